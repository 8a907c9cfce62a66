"""The simulator: SimPy models of clients, network and server, and closed-form checks."""
