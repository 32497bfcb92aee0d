"""Benchmarks (`make bench`): each measures the service against a direct baseline in one run."""
