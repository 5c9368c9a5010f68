"""Where a submission stands in its grading queue, and when its grading should start and end.

The order is the workers' own: ``fairness.turn_order``, the query the free slots pick with. The
estimate lets the queue's slots drain it: each slot frees when its current run is expected to end
(at once if idle), and each waiting submission, in turn order, takes the slot that frees first and
holds it for its typical run time. With the slots and run times as measured (a steady queue) that is
the real schedule; otherwise it is as good as those two measures.

At a deadline hundreds of students watch their status pages, each read again whenever the queue
moves. So a queue's order, runs and slots are read at most once per ``SNAPSHOT_SECONDS`` per process
and that snapshot answers every submission in it; typical run times change slowly and are measured
at most once per ``RUN_TIMES_SECONDS``. Nothing here writes.
"""

from __future__ import annotations

import heapq
import math
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from flask import current_app
from sqlalchemy import func, select

from grader.assignments.models import Assignment, AssignmentVersion
from grader.assignments.queueing import grading_queue
from grader.engine.rules import Budget
from grader.engine.spec import SpecError
from grader.extensions import db, utcnow
from grader.submissions.models import Attempt, State, Submission
from grader.workers import fairness
from grader.workers.queue_words import duration, place_sentence

WAITING = (State.QUEUED, State.RECEIVED)
SNAPSHOT_SECONDS = 3.0
RUN_TIMES_SECONDS = 30.0
# A submission the snapshot does not know (uploaded or claimed since) refreshes it, at most this often:
# a burst of uploads costs one read per interval and process, not one per upload (a read of a
# 300-long queue costs the web ~5 ms of CPU and PostgreSQL ~3 ms; at a deadline's 5 uploads a second
# 0.25 s was most of the web's reads). A stream whose submission is not placed yet reads again then.
MISSING_REFRESH_SECONDS = 1.0
SLOT_WINDOW = timedelta(minutes=15)  # a worker that ran one of the queue's attempts this recently serves it
RUN_TIMES_WINDOW = timedelta(hours=6)
RUN_SAMPLES = 200  # the latest finished attempts of the queue; their median is the typical run
MIN_SAMPLES = 3  # fewer runs of one assignment version than this: the queue's median says more
# A running attempt's measured fraction is trusted from here, and only once one training run has ended
# (before that the runner's fraction is against the time budget, not the run's real length).
MIN_FRACTION = 0.1
SPECS_KEPT = 1000

T = TypeVar("T")


@dataclass(frozen=True)
class RunTime:
    seconds: float
    source: str  # "assignment": its recent runs; "queue": the queue's recent runs; "budget": its time limits


@dataclass(frozen=True)
class Scheduled:
    position: int
    starts_in: float  # seconds after the snapshot was taken
    ends_in: float
    run: RunTime


@dataclass(frozen=True)
class Snapshot:
    queue: str
    taken_at: datetime
    slots: int
    waiting: dict[int, Scheduled]
    running: dict[int, tuple[float, RunTime]]  # submission id -> (seconds left after taken_at, its run)


@dataclass(frozen=True)
class Place:
    """A waiting submission's place in its queue and its estimates; a running one's end (no place)."""

    queue: str
    position: int | None  # 1: the next a free slot takes; None once running
    ahead: int | None
    length: int  # waiting in the queue, every course's
    slots: int  # worker slots serving the queue now (measured, at least 1)
    run_seconds: float  # the typical run of this submission's assignment
    run_seconds_from: str  # "assignment", "queue" or "budget"
    starts_in_seconds: int | None  # None once running
    ends_in_seconds: int

    @property
    def summary(self) -> str:
        return place_sentence(self.queue, self.position, self.starts_in_seconds, self.ends_in_seconds)

    def as_payload(self) -> dict[str, Any]:
        return asdict(self) | {"summary": self.summary}


@dataclass(frozen=True)
class QueueLoad:
    """One queue as a course's instructors see it: how long, and how long its oldest has waited."""

    queue: str
    waiting: int  # every course's: they all wait in the same line
    from_course: int
    oldest_wait_seconds: float | None

    @property
    def oldest_wait(self) -> str:
        return duration(self.oldest_wait_seconds) if self.oldest_wait_seconds is not None else "—"


@dataclass
class _Entry(Generic[T]):
    refreshing: Any  # a lock: one refresh of the key at a time
    held: tuple[T, float] | None = None  # (value, when), replaced whole so readers never see half


class SnapshotCache(Generic[T]):
    """A value per queue, computed at most once per ``ttl`` seconds in this process.

    Callers that find it stale while another computes it wait for that one's value instead of
    reading the database too. Safe under threads and gevent: the guard is never held across a query
    (nothing under it can switch greenlets), and a key's refresh lock is made on first use, after
    gunicorn's gevent worker has patched ``threading`` (one made at import may be the unpatched kind).
    """

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.clock = ttl, clock
        self._guard = threading.Lock()
        self._entries: dict[str, _Entry[T]] = {}

    def get(self, key: str, compute: Callable[[], T], outdated: Callable[[T], bool] | None = None) -> T:
        with self._guard:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Entry(threading.Lock())
        held = self._fresh(entry, outdated)
        if held is not None:
            return held[0]
        with entry.refreshing:
            held = self._fresh(entry, outdated)  # another caller may have refreshed it meanwhile
            if held is None:
                held = (compute(), self.clock())
                entry.held = held
        return held[0]

    def _fresh(self, entry: _Entry[T], outdated: Callable[[T], bool] | None) -> tuple[T, float] | None:
        held = entry.held
        if held is None:
            return None
        age = self.clock() - held[1]
        if age >= self.ttl or (outdated is not None and age >= MISSING_REFRESH_SECONDS and outdated(held[0])):
            return None
        return held

    def clear(self) -> None:
        with self._guard:
            self._entries.clear()


@dataclass
class Caches:
    snapshots: SnapshotCache[Snapshot] = field(default_factory=lambda: SnapshotCache(SNAPSHOT_SECONDS))
    run_times: SnapshotCache[dict[int | None, list[float]]] = field(
        default_factory=lambda: SnapshotCache(RUN_TIMES_SECONDS)
    )
    specs: dict[int, tuple[int, Budget]] = field(default_factory=dict)  # versions never change


def caches() -> Caches:
    """This app's caches (one per app: each app has its own database)."""
    found: Caches = current_app.extensions.setdefault("grader.queue_estimate", Caches())
    return found


def place(submission_id: int, state: State, queue: str, now: datetime | None = None) -> Place | None:
    """Where a waiting or running submission is in ``queue``; None in any other state."""
    if state not in WAITING and state is not State.RUNNING:
        return None
    now = now or utcnow()
    running = state is State.RUNNING

    def missing(snapshot: Snapshot) -> bool:
        return submission_id not in (snapshot.running if running else snapshot.waiting)

    snapshot = caches().snapshots.get(queue, lambda: _snapshot(queue, now), missing)
    since = max((now - snapshot.taken_at).total_seconds(), 0.0)
    length = len(snapshot.waiting)
    if running:
        found = snapshot.running.get(submission_id)
        if found is None:
            return None
        left, run = found
        return Place(
            queue=queue,
            position=None,
            ahead=None,
            length=length,
            slots=snapshot.slots,
            run_seconds=round(run.seconds, 1),
            run_seconds_from=run.source,
            starts_in_seconds=None,
            ends_in_seconds=math.ceil(max(left - since, 0.0)),
        )
    scheduled = snapshot.waiting.get(submission_id)
    if scheduled is None:
        return None  # out of attempts, or it moved on between the two reads: nothing true to say
    return Place(
        queue=queue,
        position=scheduled.position,
        ahead=scheduled.position - 1,
        length=length,
        slots=snapshot.slots,
        run_seconds=round(scheduled.run.seconds, 1),
        run_seconds_from=scheduled.run.source,
        starts_in_seconds=math.ceil(max(scheduled.starts_in - since, 0.0)),
        ends_in_seconds=math.ceil(max(scheduled.ends_in - since, 0.0)),
    )


def remaining(typical: float, elapsed: float, progress: Any) -> float:
    """Seconds a running attempt still needs: from its measured progress, else its typical run."""
    floor = max(1.0, 0.1 * typical)  # overdue: it should end soon, not "now" for ever
    if isinstance(progress, dict) and progress.get("eta_is_bound") is False:
        fraction = progress.get("fraction")
        if isinstance(fraction, (int, float)) and MIN_FRACTION <= fraction < 1:
            return max(elapsed * (1 - fraction) / fraction, floor)
    return max(typical - elapsed, floor)


def _snapshot(queue: str, now: datetime) -> Snapshot:
    config = current_app.extensions["grader.config"]
    order = db.session.execute(
        fairness.turn_order(
            queue, config.max_attempts, Submission.assignment_version_id, received_too=True, now=now
        )
    ).all()
    running = db.session.execute(
        select(
            Submission.id, Submission.assignment_version_id, Submission.progress, Attempt.worker,
            Attempt.started_at,
        )
        .join(Attempt, (Attempt.submission_id == Submission.id) & (Attempt.number == Submission.attempts))
        .where(Submission.queue == queue, Submission.state == State.RUNNING)
    ).all()  # fmt: skip
    since = now - SLOT_WINDOW
    workers = set(
        db.session.scalars(
            select(Attempt.worker)
            .distinct()
            .join(Submission, Submission.id == Attempt.submission_id)
            .where(
                Submission.queue == queue,
                Submission.updated_at >= since,  # implied by the attempt's times: lets the index narrow
                (Attempt.started_at >= since) | (Attempt.finished_at >= since),
            )
        )
    ) | {row.worker for row in running}
    slots = max(1, len(workers), len(running))
    measured = caches().run_times.get(queue, lambda: _measure(queue, now))
    runs: dict[int, RunTime] = {}

    def run_of(version_id: int) -> RunTime:
        if version_id not in runs:
            runs[version_id] = typical_run(version_id, measured)
        return runs[version_id]

    left: dict[int, tuple[float, RunTime]] = {}
    for row in running:
        run = run_of(row.assignment_version_id)
        left[row.id] = (remaining(run.seconds, (now - row.started_at).total_seconds(), row.progress), run)
    free = [seconds for seconds, _ in left.values()]
    free += [0.0] * (slots - len(free))  # idle slots take the next at once
    heapq.heapify(free)
    waiting: dict[int, Scheduled] = {}
    for position, (submission_id, version_id) in enumerate(order, 1):
        run = run_of(version_id)
        starts = heapq.heappop(free)
        heapq.heappush(free, starts + run.seconds)
        waiting[submission_id] = Scheduled(position, starts, starts + run.seconds, run)
    return Snapshot(queue, now, slots, waiting, left)


def _measure(queue: str, now: datetime) -> dict[int | None, list[float]]:
    """Seconds of the queue's latest finished runs, per assignment version, and all of them under None."""
    rows = db.session.execute(
        select(Submission.assignment_version_id, Attempt.started_at, Attempt.finished_at)
        .join(Attempt, Attempt.submission_id == Submission.id)
        .where(
            Submission.queue == queue,
            Submission.state.in_(fairness.FINAL),
            Submission.updated_at >= now - RUN_TIMES_WINDOW,
            Attempt.outcome == "finished",
            Attempt.finished_at.is_not(None),
        )
        .order_by(Attempt.finished_at.desc())
        .limit(RUN_SAMPLES)
    ).all()
    seconds: dict[int | None, list[float]] = {None: []}
    for version_id, started, finished in rows:
        if finished is None:  # excluded by the query; its type does not know
            continue
        took = (finished - started).total_seconds()
        seconds.setdefault(version_id, []).append(took)
        seconds[None].append(took)
    return seconds


def typical_run(version_id: int, measured: dict[int | None, list[float]]) -> RunTime:
    """The median of the version's recent runs, else of the queue's, else what its budget allows."""
    own, everyone = measured.get(version_id, []), measured.get(None, [])
    choices = ((own, "assignment", MIN_SAMPLES), (everyone, "queue", MIN_SAMPLES))
    for samples, source, enough in (*choices, (own, "assignment", 1), (everyone, "queue", 1)):
        if len(samples) >= enough:
            return RunTime(statistics.median(samples), source)
    runs, budget = version_budget(version_id)
    # Every seed trains and is evaluated in turn; most stop before their budget, so this errs long.
    return RunTime(runs * (budget.train_seconds + budget.eval_seconds), "budget")


def version_budget(version_id: int) -> tuple[int, Budget]:
    """How many training runs a version's grading makes (its seeds), and its budget."""
    specs = caches().specs
    found = specs.get(version_id)
    if found is None:
        version = db.session.get(AssignmentVersion, version_id)
        try:
            spec = version.spec() if version is not None else None
        except SpecError:
            spec = None
        found = (max(spec.grading.seeds, 1), spec.budget) if spec is not None else (1, Budget())
        if len(specs) >= SPECS_KEPT:
            specs.clear()
        specs[version_id] = found
    return found


def course_queues(course_id: int, now: datetime | None = None) -> list[QueueLoad]:
    """The queues the course's assignments are graded in: how many wait, and the oldest's wait."""
    now = now or utcnow()
    config = current_app.extensions["grader.config"]
    assignments = db.session.scalars(select(Assignment).where(Assignment.course_id == course_id)).all()
    versions = [version.id for assignment in assignments for version in assignment.versions]
    waiting = Submission.state.in_(WAITING) & (Submission.attempts < config.max_attempts)
    in_course = Submission.assignment_version_id.in_(versions or [-1])
    names = {
        grading_queue(version_budget(a.current.id)[1], config.grading_queue)
        for a in assignments
        if a.versions
    }
    names |= set(db.session.scalars(select(Submission.queue).distinct().where(waiting, in_course)))
    rows = db.session.execute(
        select(
            Submission.queue, func.count(), func.count().filter(in_course), func.min(Submission.created_at)
        )
        .where(waiting, Submission.queue.in_(sorted(names)))
        .group_by(Submission.queue)
    ).all()
    found = {row[0]: row for row in rows}
    loads = []
    for name in sorted(names):
        _, count, ours, oldest = found.get(name, (name, 0, 0, None))
        wait = max((now - oldest).total_seconds(), 0.0) if oldest is not None else None
        loads.append(QueueLoad(name, int(count), int(ours), wait))
    return loads
