"""ondemand.dispatch."""
