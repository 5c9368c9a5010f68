"""Data the API tests share: staff, uploads through the API, and results written as a worker writes them."""

from __future__ import annotations

import io
import uuid
from typing import Any

from flask.testing import FlaskClient
from support.courses import enroll

from grader.accounts.models import Role, User
from grader.accounts.services import create_user
from grader.courses.models import Course
from grader.extensions import db, utcnow
from grader.submissions.models import Curve, Result, ResultDiagnosis, State, Submission

DIAGNOSES = [
    {
        "code": "learning_rate_too_large", "severity": "error", "title": "The learning rate is too large",
        "seen": "loss rose 40x in 10 steps", "why": "steps overshoot the minimum", "fix": "divide it by 10",
        "where": "main.py:12", "numbers": {"ratio": 40.0},
    },
    {
        "code": "unnormalised_inputs", "severity": "hint", "title": "Inputs are not normalised",
        "seen": "x spans 0..1000", "why": "large inputs slow training", "fix": "standardise x", "where": "",
        "numbers": {},
    },
]  # fmt: skip


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def new_user(course: Course | None, role: Role = Role.STUDENT, name: str = "Someone") -> User:
    user = create_user(f"{role.value}-{uuid.uuid4().hex[:8]}@example.edu", name, role, "pw")
    if course is not None:
        enroll(course, user, role)
    return user


def upload(client: FlaskClient, assignment_id: int, token: str, text: bytes = b"x = 1\n") -> dict[str, Any]:
    response = client.post(
        f"/api/v1/assignments/{assignment_id}/submissions",
        data={"file": (io.BytesIO(text), "main.py")},
        headers=bearer(token),
        content_type="multipart/form-data",
    )
    assert response.status_code == 202, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


def grade(
    submission_id: int, score: float = 87.5, passed: bool = True, verdict: str = "scored", seed: int = 7919
) -> Result:
    """Write a result the way the worker's ``finish`` does: state, result, curves and diagnoses in one commit."""
    submission = db.session.get(Submission, submission_id)
    assert submission is not None
    submission.state = State.SCORED if verdict == "scored" else State.FAILED
    submission.attempts = 1
    result = Result(
        submission_id=submission_id, attempt_number=1, verdict=verdict, message="Trained and scored.",
        metric_name="mse", metric_value=0.0123 if verdict == "scored" else None,
        score=score if verdict == "scored" else None, public_metric=0.01, public_score=score, max_score=100.0,
        passed=passed, seed=seed, wall_seconds=12.5, cpu_seconds=11.0, stdout="epoch 1\n", stderr="",
        details={"diagnoses": DIAGNOSES, "notes": ["a note"], "late": {"days": 0, "penalty_percent": 0.0}},
        created_at=utcnow(),
    )  # fmt: skip
    result.curves.append(Curve(series="loss", steps=[0, 10, 20], values=[1.0, 0.5, None], points_total=3))
    result.curves.append(Curve(series="lr", steps=[0, 10, 20], values=[0.01, 0.01, 0.01], points_total=3))
    result.diagnoses.extend(
        ResultDiagnosis(code=d["code"], severity=d["severity"], title=d["title"]) for d in DIAGNOSES
    )
    db.session.add(result)
    db.session.commit()
    return result
