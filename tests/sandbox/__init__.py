"""Tests against the sandbox server over HTTP (run apart from tests/unit and tests/functional)."""
