"""Regrade requests: a student asks, with a reason, for a graded submission to be looked at again; the
course's instructors answer each with a comment and a regrade, a score set by hand, or a no."""
