"""Assignments: specs in ``assignments/<slug>/`` and the data sets drawn from them."""
