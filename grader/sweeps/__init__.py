"""Hyperparameter sweeps: one submission's settings grid or random search, each point its own run."""
