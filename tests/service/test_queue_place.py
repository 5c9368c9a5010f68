"""A submission's place in its queue and the estimates of when its grading starts and ends, on the
real database: the place is the order the worker slots really claim in, and the estimate is checked
against the real drain of a steady queue (claims at the moments the slots free up; the clock is
injected). The pages, the API and the CLI that show it: test_queue_shown.py."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import event, update
from support.queueing import finish, new_student, ran, start, take_turn, unpublished, upload

from grader.assignments.models import Assignment
from grader.assignments.services import publish
from grader.courses.models import Course
from grader.extensions import db, utcnow
from grader.submissions.models import State, Submission
from grader.web import queries
from grader.workers import queue_estimate

TYPICAL = 10.0  # seconds: every run the queue finished lately took this long


@pytest.fixture
def assignment(course: Course) -> Assignment:
    return publish(course, "paraboloid", daily_limit=100)


@pytest.fixture(autouse=True)
def fresh_snapshots(session: None) -> Iterator[None]:
    # Each test has its own rolled-back queue: a snapshot kept from another test would be of another queue.
    queue_estimate.caches().snapshots.clear()
    queue_estimate.caches().run_times.clear()
    yield
    queue_estimate.caches().snapshots.clear()
    queue_estimate.caches().run_times.clear()


def _places(ids: list[int], now: datetime | None = None) -> dict[int, queue_estimate.Place]:
    states = dict(
        db.session.execute(sa.select(Submission.id, Submission.state).where(Submission.id.in_(ids))).all()
    )
    found = {i: queue_estimate.place(i, states[i], "cpu", now) for i in ids}
    assert all(p is not None for p in found.values()), found
    return {i: p for i, p in found.items() if p is not None}


def test_the_places_are_the_order_in_which_the_slots_claim(course, assignment):
    ada, bob, cy, dee, eve = (new_student(course, n) for n in ("ada", "bob", "cy", "dee", "eve"))
    now = utcnow()
    # Ada and Cy had runs graded in the last hour: their next turns come after the others' first.
    for earlier in upload(ada, assignment, 2) + upload(cy, assignment):
        ran(earlier, "w", now - timedelta(minutes=5), now - timedelta(minutes=4))
    waiting = upload(ada, assignment, 4) + upload(bob, assignment) + upload(cy, assignment, 2)
    waiting += upload(dee, assignment)
    (late,) = upload(eve, assignment)
    unpublished(late)  # its message is not sent yet: behind everything pickable
    waiting.append(late)

    places = _places(waiting)
    by_place = sorted(waiting, key=lambda i: places[i].position or 0)
    assert [places[i].position for i in by_place] == list(range(1, len(waiting) + 1))
    assert all(places[i].ahead == places[i].position - 1 for i in waiting)  # type: ignore[operator]
    assert {places[i].length for i in waiting} == {len(waiting)}
    assert by_place[-1] == late
    assert by_place != sorted(waiting)  # fair turns, not upload order: the test would see a mix-up

    claimed = []
    for moment in itertools.count():
        if len(claimed) == len(waiting):
            break
        taken = take_turn(late, "w", now + timedelta(seconds=moment))  # any message: the slot picks
        claimed.append(taken)
        if len(claimed) == 1:
            queue_estimate.caches().snapshots.clear()
            moved = _places(by_place[1:])
            assert [moved[i].position for i in by_place[1:]] == list(range(1, len(waiting)))
        finish(taken, now + timedelta(seconds=moment + 1))
    assert claimed == by_place


def test_the_estimated_start_is_within_a_quarter_of_the_real_one_for_a_steady_queue(course, assignment):
    t0 = utcnow()

    def at(seconds: float) -> datetime:
        return t0 + timedelta(seconds=seconds)

    ada, bob, cy, dee, eve = (new_student(course, n) for n in ("ada", "bob", "cy", "dee", "eve"))
    # What the queue measures: six runs of ten seconds each, on the two slots, in the last ten minutes.
    for n, earlier in enumerate(upload(eve, assignment, 6)):
        ran(earlier, ("w1", "w2")[n % 2], at(-600 + 20 * n), at(-600 + 20 * n + TYPICAL))
    (one,), (two,) = upload(cy, assignment), upload(dee, assignment)
    start(one, "w1", at(-3))
    start(two, "w2", at(-6))
    waiting = upload(ada, assignment, 4) + upload(bob, assignment, 2) + upload(cy, assignment, 2)
    waiting += upload(dee, assignment) + upload(eve, assignment)

    places = _places(waiting, t0)
    assert {p.slots for p in places.values()} == {2}
    assert {(p.run_seconds, p.run_seconds_from) for p in places.values()} == {(TYPICAL, "assignment")}

    # The real drain: each slot, when its run ends, claims whoever's turn it is; runs vary by 20%.
    lengths = itertools.cycle([10.0, 8.0, 12.0, 9.0, 11.0, 10.0])
    free = {"w1": at(-3 + TYPICAL), "w2": at(-6 + TYPICAL)}
    running = {"w1": one, "w2": two}
    started: dict[int, float] = {}
    while len(started) < len(waiting):
        worker = min(free, key=lambda w: free[w])
        moment = free[worker]
        finish(running[worker], moment)
        taken = take_turn(waiting[0], worker, moment)
        started[taken] = (moment - t0).total_seconds()
        running[worker], free[worker] = taken, moment + timedelta(seconds=next(lengths))

    for submission_id, real in started.items():
        estimate = places[submission_id].starts_in_seconds
        assert estimate is not None and abs(estimate - real) <= 0.25 * real, (places[submission_id], real)
        assert places[submission_id].ends_in_seconds == pytest.approx(estimate + TYPICAL, abs=1)
    assert sorted(started, key=started.__getitem__) == sorted(waiting, key=lambda i: places[i].position or 0)


def test_a_running_submission_is_told_when_it_ends(course, assignment):
    t0 = utcnow()
    student = new_student(course, "ada")
    for n, earlier in enumerate(upload(student, assignment, 3)):
        ran(earlier, "w1", t0 - timedelta(minutes=10 - n), t0 - timedelta(minutes=10 - n, seconds=-TYPICAL))
    (plain, measured) = upload(student, assignment, 2)
    start(plain, "w1", t0 - timedelta(seconds=4))
    start(measured, "w2", t0 - timedelta(seconds=8))
    # Half done after 8 s by its own measure (one training run has ended): 8 s left, not the typical 2.
    progress = {"fraction": 0.5, "eta_is_bound": False, "run": 2, "runs": 3}
    db.session.execute(update(Submission).where(Submission.id == measured).values(progress=progress))
    db.session.commit()

    places = _places([plain, measured], t0)
    ends = places[plain]
    assert (ends.position, ends.starts_in_seconds, ends.ends_in_seconds) == (None, None, 6)
    assert ends.summary == "Results in under a minute."
    assert places[measured].ends_in_seconds == 8
    assert queue_estimate.place(plain, State.SCORED, "cpu", t0) is None  # nothing to wait for


def test_without_runs_to_measure_the_budget_gives_the_run_time(course, assignment):
    (first, second) = upload(new_student(course, "ada"), assignment, 2)
    places = _places([first, second])
    # paraboloid: three seeds, each up to 120 s of training and 30 s of evaluation; one slot assumed.
    estimate = places[first]
    assert (estimate.run_seconds, estimate.run_seconds_from, estimate.slots) == (450.0, "budget", 1)
    assert (places[first].starts_in_seconds, places[second].starts_in_seconds) == (0, 450)
    assert places[second].summary == (
        "2nd in the cpu queue · grading starts in about 8 minutes, results in about 15 minutes."
    )


def test_many_watchers_of_one_queue_cost_one_order_query(course, assignment, monkeypatch):
    students = [new_student(course, f"s{n}") for n in range(6)]
    ids = [i for s in students for i in upload(s, assignment, 2)]
    moment = [0.0]
    # The app's own cache for this test only: later tests' snapshots must age with the real clock.
    monkeypatch.setattr(queue_estimate.caches().snapshots, "clock", lambda: moment[0])
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    def order_queries() -> int:
        return sum("row_number() OVER" in s for s in statements)

    event.listen(sa.engine.Engine, "before_cursor_execute", count)
    try:
        for _ in range(25):  # 300 status reads, as 25 refreshes of a dozen watchers' pages
            seen = [queries.status_of(i) for i in ids]
        assert order_queries() == 1
        assert sorted(s["queue"]["position"] for s in seen if s) == list(range(1, len(ids) + 1))
        (newcomer,) = upload(students[0], assignment)
        moment[0] += queue_estimate.MISSING_REFRESH_SECONDS  # a new upload is placed at once...
        assert queries.status_of(newcomer)["queue"]["position"] == len(ids) + 1  # type: ignore[index]
        assert order_queries() == 2
        for i in ids:
            queries.status_of(i)  # ...and the others read that same snapshot
        assert order_queries() == 2
        moment[0] += queue_estimate.SNAPSHOT_SECONDS  # then it is read again, once, when it expires
        for i in ids:
            queries.status_of(i)
        assert order_queries() == 3
    finally:
        event.remove(sa.engine.Engine, "before_cursor_execute", count)


def test_the_course_page_queues_count_every_course_and_say_how_long_the_oldest_waited(course, assignment):
    other = Course(code="OTHER-1", title="Another course")
    db.session.add(other)
    db.session.commit()
    elsewhere = publish(other, "paraboloid", daily_limit=100)
    (oldest,) = upload(new_student(other, "ada"), elsewhere)
    upload(new_student(course, "bob"), assignment, 2)
    now = utcnow()
    db.session.execute(
        update(Submission).where(Submission.id == oldest).values(created_at=now - timedelta(minutes=3))
    )
    db.session.commit()
    (cpu,) = queue_estimate.course_queues(course.id, now)
    assert (cpu.queue, cpu.waiting, cpu.from_course, cpu.oldest_wait) == ("cpu", 3, 2, "about 3 minutes")
