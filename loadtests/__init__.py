"""Locust scenarios per strategy. Only this package imports locust (it monkey-patches the process)."""
