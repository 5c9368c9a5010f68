"""HTTP errors raised inside API views stay what they are (not a 500): the body-size limit above all."""

from __future__ import annotations

import io

from sqlalchemy import func, select

from grader.extensions import db
from grader.submissions.models import Submission


def test_a_body_over_the_request_limit_is_a_413_problem(app, client, paraboloid, student_token):
    limit = app.config["MAX_CONTENT_LENGTH"]
    before = db.session.scalar(select(func.count(Submission.id)))
    response = client.post(
        f"/api/v1/assignments/{paraboloid.id}/submissions",
        data={"file": (io.BytesIO(b"#" * (limit + 1024)), "big.py")},
        headers={"Authorization": f"Bearer {student_token}"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 413, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/problem+json"
    assert "may be at most 256 KiB" in response.get_json()["detail"]  # says how large an upload may be
    assert db.session.scalar(select(func.count(Submission.id))) == before
