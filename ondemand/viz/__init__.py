"""ondemand.viz."""
