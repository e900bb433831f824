"""Helpers shared by the test suites: real processes, free ports, waiting on conditions."""
