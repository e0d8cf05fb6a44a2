"""Tests of kefu, by the layer they exercise; shared fixtures in conftest.py, helpers and doubles in support/."""
