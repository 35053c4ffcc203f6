"""Hostile-user regressions (issue 16): one test module per class of payload."""
