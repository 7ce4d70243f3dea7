"""The solver: requests and plans, the one feasibility test, insertion, dial-a-ride search, checker.

Knows nothing of geography: it sees stop indices and a travel-time matrix.
"""
