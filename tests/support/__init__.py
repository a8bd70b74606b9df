"""Helpers shared by the integration tests, the end-to-end tests, the benchmark and the demo."""
