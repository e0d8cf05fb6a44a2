"""Reliability: health, metrics, roles, cross-process events, shutdown and fault tests."""
