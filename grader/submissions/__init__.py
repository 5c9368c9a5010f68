"""Submissions, their grading attempts, results and curves."""
