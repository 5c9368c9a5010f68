"""Courses and who is enrolled in them."""
