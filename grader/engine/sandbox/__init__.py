"""Sandboxes for untrusted training code.

``bwrap`` (bubblewrap, the default on a Linux host) and ``docker`` (production)
start a sandbox running the harness; ``supervise`` watches one run's pipes,
timers and limits; ``pool`` keeps warm sandboxes that have already imported
torch. Nothing here imports Flask, the database or Celery.
"""
