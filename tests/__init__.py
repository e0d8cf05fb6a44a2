"""Tests of kefu; fixtures in conftest.py, doubles of external services in fakes.py."""
