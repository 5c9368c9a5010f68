"""Uploads through the REST API (a bearer token's), and zips built in memory to upload."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from grader.assignments.models import Assignment
from grader.extensions import db
from grader.submissions.models import Submission

SCRIPT = b"import torch\nmodel = torch.nn.Linear(2, 1)\n"  # accepted, never graded here


def post_upload(client: Any, assignment_id: int, token: str, filename: str, content: bytes) -> Any:
    """Post a file to the API's submissions of the assignment with ``token``; the response (202 when
    accepted, a problem otherwise)."""
    return client.post(
        f"/api/v1/assignments/{assignment_id}/submissions",
        data={"file": (io.BytesIO(content), filename)},
        headers={"Authorization": f"Bearer {token}"},
        content_type="multipart/form-data",
    )


def submit(client: Any, assignment: Assignment, token: str) -> Submission:
    """Upload a small script through the API, accepted (queued): its submission."""
    response = post_upload(client, assignment.id, token, "s.py", SCRIPT)
    assert response.status_code == 202, response.get_data(as_text=True)
    submission = db.session.get(Submission, response.get_json()["id"])
    assert submission is not None
    return submission


def make_zip(members: dict[str, bytes]) -> bytes:
    """A zip built in memory (hostile ones included: the tests name the members)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()
