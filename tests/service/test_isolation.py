"""Two canaries prove each test's writes are rolled back, service commits included."""

from __future__ import annotations

from sqlalchemy import func, select

from grader.accounts.models import Role, User
from grader.accounts.services import create_user
from grader.extensions import db

CANARY = "canary@example.edu"


def test_canary_commits_a_row(session):
    create_user(CANARY, "Canary", Role.STUDENT)  # commits inside the service
    assert db.session.scalar(select(func.count()).where(User.email == CANARY)) == 1


def test_canary_row_is_gone(session):
    assert db.session.scalar(select(func.count()).where(User.email == CANARY)) == 0
