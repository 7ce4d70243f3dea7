"""ondemand.sim."""
