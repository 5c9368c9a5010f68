"""grader: an autograding service for neural-network training assignments."""

__version__ = "0.1.0"
