"""Assignments: specs (the built-in ones in ``builtin/<slug>/``) and the data sets drawn from them."""
