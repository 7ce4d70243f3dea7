"""Geography: road graphs, service areas, meeting points and travel times.

Knows nothing of the solver: what it hands on is a travel-time matrix (or query) and stops.
"""
