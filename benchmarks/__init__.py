"""Benchmarks of agentsched's heartbeat path (python -m benchmarks.heartbeat)."""
