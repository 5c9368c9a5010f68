"""How many messages wait in each Celery queue, read from the broker itself (metrics and doctor).

Redis (kombu's transport): a queue is a list named after it, plus one list per priority step
(``cpu\\x06\\x163``, ...); a message a worker has taken but not acknowledged (acks_late: the
run is in progress) sits in the ``unacked`` hash instead. The embedded SQLAlchemy transport: the
``kombu_message`` rows still visible, per ``kombu_queue``; it keeps taken messages as invisible
rows until they are acknowledged, so it cannot tell taken from done: no unacked count there.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import redis
import sqlalchemy as sa
from sqlalchemy.orm import Session, scoped_session
from sqlalchemy.pool import NullPool

from grader.celery_app import MAINTENANCE_QUEUE, OUTBOUND_QUEUE

# The queues always reported; a GPU kind's queue (gpu-<kind>) is reported once a submission went to it:
# the callers pass those names as ``extra`` (see ``queues_in_use``).
QUEUES = ("cpu", "gpu", MAINTENANCE_QUEUE, OUTBOUND_QUEUE)
# kombu's Redis transport: the separator and priority steps of its per-priority lists.
PRIORITY_SEPARATOR = "\x06\x16"
PRIORITY_STEPS = (3, 6, 9)
UNACKED_KEY = "unacked"


class BrokerUnavailable(RuntimeError):
    """The broker could not be reached or read; the message says what failed."""


@dataclass(frozen=True)
class QueueDepths:
    transport: str  # "redis" or "sqlalchemy"
    waiting: dict[str, int]  # messages no worker has taken yet, per queue
    unacked: dict[str, int] | None  # taken by a worker, not acknowledged yet (Redis only)
    note: str = ""  # e.g. "the embedded broker has made no tables yet"


def read_queue_depths(broker_url: str, timeout: float = 3.0, extra: Iterable[str] = ()) -> QueueDepths:
    """The depth of each of QUEUES and of the ``extra`` queues, straight from the broker; raises
    BrokerUnavailable."""
    queues = tuple(dict.fromkeys((*QUEUES, *extra)))  # in order, each once
    if broker_url.startswith(("redis://", "rediss://")):
        return _redis_depths(broker_url, timeout, queues)
    if broker_url.startswith("sqla+"):
        return _sqlalchemy_depths(broker_url[len("sqla+") :], queues)
    raise BrokerUnavailable(f"unknown broker transport in {broker_url!r}")


# Every distinct queue, one index probe each (a loose index scan over the (queue, state, updated_at)
# index), whatever the table's size: PostgreSQL would otherwise read the whole index for DISTINCT.
KNOWN_QUEUES = sa.text(
    """
    WITH RECURSIVE known(name) AS (
        SELECT min(queue) FROM submissions
        UNION ALL
        SELECT (SELECT min(queue) FROM submissions WHERE queue > known.name) FROM known
        WHERE known.name IS NOT NULL
    )
    SELECT name FROM known WHERE name IS NOT NULL
    """
)


def queues_in_use(connection: sa.Connection | Session | scoped_session[Any]) -> tuple[str, ...]:
    """Every queue a submission has been sent to (a GPU kind's among them), by name.

    The queues are named by the specs (``[budget] gpu_kind``), so no fixed list knows them all; the
    rows do. A kind's queue stays reported once it has had work, at 0 while idle, so an alert on
    "nothing has drained for ten minutes" and a dashboard's panel do not lose their series.
    """
    return tuple(str(name) for name in connection.scalars(KNOWN_QUEUES))


def queues_in_use_at(database_url: str, timeout: float) -> tuple[str, ...]:
    """``queues_in_use`` read through a connection of its own (the doctor runs without the app);
    () when the database cannot be read: the fixed QUEUES are still reported then."""
    url = sa.engine.make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if not Path(url.database or "").exists():  # connecting would create an empty file
            return ()
        connect_args: dict[str, float] = {"timeout": timeout}
    else:
        connect_args = {"connect_timeout": max(1, int(timeout))}
    engine = sa.create_engine(url, poolclass=NullPool, connect_args=connect_args)
    try:
        with engine.connect() as connection:
            return queues_in_use(connection)
    except sa.exc.SQLAlchemyError:  # the database check says what is wrong with it
        return ()
    finally:
        engine.dispose()


@lru_cache(maxsize=4)
def redis_client(url: str, timeout: float) -> redis.Redis:
    # One client (and connection pool) per process and URL: a scrape every few seconds reuses it.
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)


def _redis_depths(url: str, timeout: float, queues: tuple[str, ...]) -> QueueDepths:
    client = redis_client(url, timeout)
    try:
        pipe = client.pipeline(transaction=False)
        for queue in queues:
            pipe.llen(queue)
            for step in PRIORITY_STEPS:
                pipe.llen(f"{queue}{PRIORITY_SEPARATOR}{step}")
        # Bounded by the number of worker slots (prefetch 1): reading them all is cheap.
        pipe.hvals(UNACKED_KEY)
        replies = pipe.execute()
    except (redis.RedisError, OSError) as exc:
        raise BrokerUnavailable(f"Redis: {exc}") from None
    per_queue = 1 + len(PRIORITY_STEPS)
    waiting = {q: int(sum(replies[i * per_queue : (i + 1) * per_queue])) for i, q in enumerate(queues)}
    unacked = dict.fromkeys(queues, 0)
    for raw in replies[-1]:
        try:
            routing_key = json.loads(raw)[2]  # [message, exchange, routing key]
        except (ValueError, IndexError, TypeError):
            continue
        if routing_key in unacked:
            unacked[routing_key] += 1
    return QueueDepths("redis", waiting, unacked)


def _sqlalchemy_depths(url: str, queues: tuple[str, ...]) -> QueueDepths:
    empty = dict.fromkeys(queues, 0)
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
        if not path.exists():  # connecting would create the file: say so instead
            return QueueDepths("sqlalchemy", empty, None, f"no broker file yet at {path}: made on first use")
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            if not sa.inspect(connection).has_table("kombu_queue"):
                return QueueDepths("sqlalchemy", empty, None, "the embedded broker has made no tables yet")
            rows = connection.execute(
                sa.text(
                    "SELECT q.name, COUNT(m.id) FROM kombu_queue q "
                    "LEFT JOIN kombu_message m ON m.queue_id = q.id AND m.visible "
                    "GROUP BY q.name"
                )
            ).all()
    except sa.exc.SQLAlchemyError as exc:
        raise BrokerUnavailable(f"embedded broker: {str(exc).splitlines()[0]}") from None
    finally:
        engine.dispose()
    waiting = empty | {str(name): int(count) for name, count in rows if name in empty}
    return QueueDepths("sqlalchemy", waiting, None)
