"""The routing core: road networks, meeting points, travel times, schedules and solvers.

Knows nothing of SimPy or HTTP. Public names are re-exported from :mod:`ondemand`.
"""
