"""ondemand.api."""
