"""The database out of reach: the API and the pages answer 503 with Retry-After, not 500.

A real unreachable server (nothing listens on the port), no mock; the restart itself, with uploads
and gradings in flight, is tests/faults/test_database_restart.py.
"""

from __future__ import annotations

import socket

from grader.api_errors import PROBLEM_JSON
from grader.app import create_app


def _unreachable_app(tmp_path):  # type: ignore[no-untyped-def]
    with socket.socket() as probe:  # a port nothing listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return create_app(
        {
            "GRADER_ENV": "test",
            "GRADER_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{port}/grader",
            "GRADER_REDIS_URL": "redis://127.0.0.1:1/0",
            "GRADER_STORAGE_DIR": str(tmp_path / "storage"),
        }
    )


def test_the_api_answers_503_with_retry_after_when_the_database_is_unreachable(tmp_path):
    client = _unreachable_app(tmp_path).test_client()
    response = client.post(
        "/api/v1/assignments/1/submissions",
        data={"file": (b"print(1)\n", "s.py")},
        headers={"Authorization": "Bearer some-token"},
    )
    assert response.status_code == 503 and response.mimetype == PROBLEM_JSON
    assert int(response.headers["Retry-After"]) > 0
    body = response.get_json()
    assert body["status"] == 503 and "database is unavailable" in body["detail"]


def test_the_pages_answer_503_with_retry_after_when_the_database_is_unreachable(tmp_path):
    client = _unreachable_app(tmp_path).test_client()
    with client.session_transaction() as session:
        session["user_id"] = 1  # logged in: the page must look the user up
    response = client.get("/")
    assert response.status_code == 503 and response.mimetype == "text/html"
    assert int(response.headers["Retry-After"]) > 0
    assert "database is unavailable" in response.get_data(as_text=True)


def test_the_openapi_document_lists_503_with_retry_after(tmp_path):
    document = _unreachable_app(tmp_path).test_client().get("/api/v1/openapi.json").get_json()
    upload = document["paths"]["/api/v1/assignments/{assignment_id}/submissions"]["post"]["responses"]
    assert "Retry-After" in upload["503"]["headers"] and "507" in upload
