"""The audit trail: every staff action that changes a grade or what a student sees, with who, when,
what and why, for the course's instructors to read and export."""
