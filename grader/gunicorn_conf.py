"""gunicorn's settings for the web service: ``gunicorn -c python:grader.gunicorn_conf grader.wsgi:app``.

gevent workers, so that a status page's open event stream costs a greenlet and a socket instead of
one of a few threads: at a deadline hundreds of students keep a stream open, and under threads
(2 x 8) the sixteenth watcher stalled every upload and page. gunicorn's gevent worker patches the
standard library before it loads the app; psycopg (which picks its way of waiting for the database
when it is first imported) and redis then wait cooperatively too. A handler that computes for long
holds its whole process, so nothing here does heavy work in a request (grading runs in workers).

This module is read by gunicorn's master process: it imports nothing of the app.
"""

from __future__ import annotations

import sys
from typing import Any

bind = "127.0.0.1:8000"  # compose and ``grader serve`` give their own --bind
workers = 2
worker_class = "gevent"
worker_connections = 2000  # open connections per worker, idle streams included
timeout = 60  # a worker silent this long is restarted (gevent workers stay responsive while streams idle)
graceful_timeout = 10  # open status streams are cut then: the browsers reconnect to the new workers
keepalive = 5


def post_worker_init(worker: Any) -> None:
    """Refuse to serve when the database driver was imported before the patch: it would block."""
    waiting = sys.modules.get("psycopg.waiting")
    if waiting is not None and getattr(waiting, "wait", None) is getattr(waiting, "wait_c", object()):
        worker.log.error("psycopg was imported before gevent patched the standard library; it would block")
        sys.exit(4)  # gunicorn's "worker failed to boot"
