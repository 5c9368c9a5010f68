"""Leaderboards: pseudonyms only, the public score until the deadline, the hidden-set ranking after it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from support.courses import enroll
from support.databases import counted
from support.pages import log_in, page_text

from grader.accounts.models import Role, User
from grader.accounts.services import create_user
from grader.courses.models import Enrollment
from grader.courses.pseudonyms import PseudonymRefused, set_pseudonym
from grader.extensions import db, utcnow
from grader.gradebooks.leaderboard import leaderboard
from grader.submissions.models import Result, State, StoredFile, Submission


def _student(course, name: str, pseudonym: str | None = None) -> User:  # type: ignore[no-untyped-def]
    user = create_user(f"{name.lower().replace(' ', '.')}@lb.example.edu", name, Role.STUDENT, "pw")
    enroll(course, user)
    if pseudonym:
        set_pseudonym(user, course.id, pseudonym)
    return user


def _graded(user, assignment, public: float, score: float, **extra) -> Submission:  # type: ignore[no-untyped-def]
    if db.session.get(StoredFile, "1" * 64) is None:
        db.session.add(StoredFile(sha256="1" * 64, size=1))
    submission = Submission(
        user_id=user.id, assignment_version_id=assignment.current.id, filename="s.py", file_sha256="1" * 64,
        kind="script", state=State.SCORED, **extra,
    )  # fmt: skip
    submission.result = Result(
        attempt_number=1, verdict="scored", metric_name="mse", metric_value=10 ** (-score / 50),
        score=score, public_metric=10 ** (-public / 50), public_score=public, max_score=100.0, seed=1,
    )  # fmt: skip
    db.session.add(submission)
    db.session.commit()
    return submission


@pytest.fixture
def board(course, paraboloid):  # type: ignore[no-untyped-def]
    """Four students: three listed (one tuned to the public part), one without a pseudonym."""
    paraboloid.leaderboard = True
    paraboloid.deadline = utcnow() + timedelta(days=2)
    db.session.commit()
    ada = _student(course, "Ada Student", "gradient-descender")
    _graded(ada, paraboloid, public=70, score=72)
    _graded(ada, paraboloid, public=80, score=78)
    bob = _student(course, "Bob Student", "overfit42")
    _graded(bob, paraboloid, public=95, score=60)  # great on the public 30%, not on the rest
    cyd = _student(course, "Cyd Student", "relu.fan")
    _graded(cyd, paraboloid, public=80, score=90)
    _graded(cyd, paraboloid, public=99, score=99, is_reference=True)  # never on a leaderboard
    dee = _student(course, "Dee Student")
    _graded(dee, paraboloid, public=85, score=85)
    teacher = create_user("lb-teacher@example.edu", "Grace Teacher", Role.INSTRUCTOR, "pw")
    enroll(course, teacher, Role.INSTRUCTOR)
    return {"ada": ada, "bob": bob, "cyd": cyd, "dee": dee, "teacher": teacher}


def test_before_the_deadline_the_public_score_ranks(board, paraboloid):
    ranking = leaderboard(paraboloid, board["dee"], utcnow())
    assert not ranking.final
    assert [(e.pseudonym, e.rank, e.score) for e in ranking.listed] == [
        ("overfit42", 1, 95), ("gradient-descender", 2, 80), ("relu.fan", 2, 80),  # ties share a rank
    ]  # fmt: skip
    assert [e.entries for e in ranking.listed] == [1, 2, 1]  # the reference run is not an entry
    assert ranking.unlisted == 1
    assert ranking.me is not None and ranking.me.pseudonym is None and ranking.me.rank == 2  # 85: behind 95


def test_after_the_deadline_the_hidden_set_ranks_and_the_shake_up_shows(board, paraboloid):
    after = paraboloid.deadline + timedelta(hours=1)
    _graded(board["bob"], paraboloid, public=100, score=100, late=True, created_at=after)  # does not count
    _graded(board["bob"], paraboloid, public=100, score=100, created_at=after)  # an extension's: neither
    ranking = leaderboard(paraboloid, board["ada"], after)
    assert ranking.final
    assert [(e.pseudonym, e.rank, e.score, e.public_rank) for e in ranking.listed] == [
        ("relu.fan", 1, 90, 2), ("gradient-descender", 2, 78, 2), ("overfit42", 3, 60, 1),
    ]  # fmt: skip


def test_the_page_shows_pseudonyms_to_students_and_names_to_staff(app, client, board, paraboloid):
    log_in(client, board["ada"])
    with counted() as statements:
        page = client.get(f"/assignments/{paraboloid.id}/leaderboard")
    body = " ".join(re.sub(r"<[^>]+>", "", page_text(page)).split())
    assert len(statements) <= 8, statements
    assert "overfit42" in body and "gradient-descender (you)" in body
    assert "Bob Student" not in body and "Dee Student" not in body and "bob.student" not in body
    assert "1 with a graded submission has not chosen one" in body
    staff = app.test_client()
    log_in(staff, board["teacher"])
    body = page_text(staff.get(f"/assignments/{paraboloid.id}/leaderboard"))
    assert "Bob Student" in body and "overfit42" in body


def test_no_leaderboard_unless_turned_on(app, client, board, paraboloid):
    token = log_in(client, board["ada"])
    assert f"/assignments/{paraboloid.id}/leaderboard" in page_text(
        client.get(f"/assignments/{paraboloid.id}")
    )
    paraboloid.leaderboard = False
    db.session.commit()
    assert "/leaderboard" not in page_text(client.get(f"/assignments/{paraboloid.id}"))
    assert client.get(f"/assignments/{paraboloid.id}/leaderboard").status_code == 404
    response = client.post(
        f"/assignments/{paraboloid.id}/leaderboard/pseudonym",
        data={"csrf_token": token, "pseudonym": "x-y-z"},
    )
    assert response.status_code == 404
    # Staff preview it, and see that students cannot.
    staff = app.test_client()
    log_in(staff, board["teacher"])
    assert "it is turned off" in page_text(staff.get(f"/assignments/{paraboloid.id}/leaderboard"))


def test_outsiders_see_no_leaderboard(client, board, paraboloid):
    outsider = create_user("outsider@lb.example.edu", "Out Sider", Role.STUDENT, "pw")
    log_in(client, outsider)
    assert client.get(f"/assignments/{paraboloid.id}/leaderboard").status_code == 404


def test_choosing_a_pseudonym_through_the_page(client, board, paraboloid):
    token = log_in(client, board["dee"])
    url = f"/assignments/{paraboloid.id}/leaderboard/pseudonym"
    refused = client.post(url, data={"csrf_token": token, "pseudonym": "Overfit42"})
    assert "already taken" in page_text(refused, 422)
    refused = client.post(url, data={"csrf_token": token, "pseudonym": "dee the great"})
    assert "contains your name" in page_text(refused, 422)
    assert db.session.get(Enrollment, _enrollment_id(board["dee"])).pseudonym is None  # nothing written
    chosen = client.post(
        url, data={"csrf_token": token, "pseudonym": "  night   owl "}, follow_redirects=True
    )
    page = page_text(chosen)
    assert "You appear as 'night owl'" in page and "night owl <strong>(you)" in page
    withdrawn = client.post(url, data={"csrf_token": token, "pseudonym": ""}, follow_redirects=True)
    assert (
        "no longer appear" in page_text(withdrawn)
        and "night owl" not in page_text(withdrawn).split("leaderboards.")[-1]
    )


def _enrollment_id(user: User) -> int:
    return db.session.query(Enrollment.id).filter(Enrollment.user_id == user.id).scalar()


@pytest.mark.parametrize(
    "pseudonym, message",
    [("x", "3 to 40 characters"), ("<script>", "3 to 40 characters"), ("a" * 41, "3 to 40 characters"),
     ("ada_rocks", "contains your name")],
)  # fmt: skip
def test_pseudonyms_that_are_refused(course, pseudonym, message):
    ada = _student(course, "Ada Lovelace")
    with pytest.raises(PseudonymRefused, match=message):
        set_pseudonym(ada, course.id, pseudonym)
