"""The similarity check through the API and the pages: staff start it, the worker's service runs it,
the pairs come most similar first; students and other courses' staff find nothing there."""

from __future__ import annotations

import io
import zipfile

from support.pages import csrf_token, log_in, log_out, page_text
from support.similarity import CLASS

from grader.accounts.models import Role
from grader.accounts.services import issue_token
from grader.courses.models import Course
from grader.extensions import db
from grader.similarity import services
from grader.similarity.models import SimilarityCheck

from .apidata import bearer, grade, new_user, upload


def _class(client, paraboloid) -> dict[str, int]:  # type: ignore[no-untyped-def]
    ids = {}
    for name, text in CLASS.items():
        student = new_user(paraboloid.course, Role.STUDENT, name[:-3].title())
        token = issue_token(student, "t", ["read", "submit"])
        ids[name] = upload(client, paraboloid.id, token, text.encode())["id"]
        grade(ids[name])
    return ids


def test_staff_start_a_check_through_the_api_and_read_its_pairs(client, course, paraboloid):
    ids = _class(client, paraboloid)
    teacher = new_user(course, Role.INSTRUCTOR, "Teacher")
    headers = bearer(issue_token(teacher, "t", ["read", "grade"]))
    started = client.post(f"/api/v1/assignments/{paraboloid.id}/similarity-checks", headers=headers)
    assert started.status_code == 202, started.get_data(as_text=True)
    body = started.get_json()
    assert body["state"] == "queued" and started.headers["Location"] == body["url"]
    assert services.run_check(body["id"]) == "done"  # what the Celery task does
    assert services.run_check(body["id"]) == "not queued"  # a second message changes nothing
    done = client.get(body["url"], headers=headers).get_json()
    assert done["state"] == "done" and done["students"] == 3 and done["done"] == done["total"] == 6
    first = done["pairs"][0]
    assert {first["left_submission_id"], first["right_submission_id"]} == {
        ids["original.py"],
        ids["renamed.py"],
    }
    assert first["code"] > 0.85 and all(p["combined"] < 0.5 for p in done["pairs"][1:])

    # Not there for a student (whatever their token's scopes), nor for another course's staff.
    student = new_user(course, Role.STUDENT, "Nosy")
    nosy = bearer(issue_token(student, "t", ["read", "grade"]))
    assert (
        client.post(f"/api/v1/assignments/{paraboloid.id}/similarity-checks", headers=nosy).status_code == 404
    )
    assert client.get(body["url"], headers=nosy).status_code == 404
    other = Course(code="OTHER-1", title="Another course")
    db.session.add(other)
    db.session.commit()
    stranger = new_user(other, Role.INSTRUCTOR, "Stranger")
    assert client.get(body["url"], headers=bearer(issue_token(stranger, "t", ["read"]))).status_code == 404


def test_the_page_runs_a_check_and_shows_a_pair_side_by_side(client, course, paraboloid):
    _class(client, paraboloid)
    teacher = new_user(course, Role.INSTRUCTOR, "Teacher")
    token = log_in(client, teacher)
    page = f"/assignments/{paraboloid.id}/similarity"
    assert "a lead for a human, not a verdict" in page_text(client.get(page))
    assert client.post(page, data={"csrf_token": token}).status_code == 303
    check = db.session.query(SimilarityCheck).filter_by(assignment_id=paraboloid.id).one()
    assert client.get(page + "/progress.json").get_json()["state"] == "queued"
    services.run_check(check.id)
    shown = page_text(client.get(page))
    assert "Original · Renamed" in shown and "Finished: 3 students compared" in shown
    pair = check.pairs[0]
    side_by_side = page_text(client.get(f"{page}/pairs/{pair.id}"))
    assert side_by_side.count("<mark>") >= 2 and "not a verdict" in side_by_side
    assert client.get(f"{page}/pairs/{pair.id + 1000}").status_code == 404

    student = new_user(course, Role.STUDENT, "Nosy")
    log_out(client)
    log_in(client, student)
    assert client.get(page).status_code == 404
    assert (
        client.post(page, data={"csrf_token": csrf_token(client.get("/").get_data(as_text=True))}).status_code
        == 404
    )
    assert client.get(f"{page}/pairs/{pair.id}").status_code == 404


def test_past_submissions_added_as_a_zip_are_compared_with_the_class(client, course, paraboloid):
    ids = _class(client, paraboloid)
    teacher = new_user(course, Role.INSTRUCTOR, "Teacher")
    token = log_in(client, teacher)
    past = io.BytesIO()
    with zipfile.ZipFile(past, "w") as archive:
        archive.writestr("2025/someone.py", CLASS["renamed.py"].replace("net", "network"))
        archive.writestr("2025/notes.txt", "not code")
        archive.writestr("public/tutorial.py", "import torch\nprint(torch.__version__)\n")
    page = f"/assignments/{paraboloid.id}/similarity"
    added = client.post(
        page + "/sources", data={"csrf_token": token, "file": (io.BytesIO(past.getvalue()), "past.zip")},
        content_type="multipart/form-data",
    )  # fmt: skip
    assert added.status_code == 303
    assert "2 held" in page_text(client.get(page))
    refused = client.post(
        page + "/sources", data={"csrf_token": token, "file": (io.BytesIO(b"PK\x03\x04 broken"), "bad.zip")},
        content_type="multipart/form-data",
    )  # fmt: skip
    assert refused.status_code == 303 and "2 held" in page_text(client.get(page))

    check = services.start_check(paraboloid, teacher)
    assert services.run_check(check.id) == "done"
    headers = bearer(issue_token(teacher, "t", ["read"]))
    pairs = client.get(f"/api/v1/similarity-checks/{check.id}", headers=headers).get_json()["pairs"]
    assert (
        len(pairs) == 3 + 3 * 2
    )  # the class's pairs, and each student with each past one (not past with past)
    with_past = {(p["left_submission_id"], p["right_source"]): p["code"] for p in pairs if p["right_source"]}
    assert with_past[(ids["original.py"], "2025/someone.py")] > 0.85
    assert with_past[(ids["independent.py"], "2025/someone.py")] < 0.3
    past_pair = next(p for p in pairs if p["right_source"] == "2025/someone.py")
    assert "Past: 2025/someone.py" in page_text(client.get(past_pair["page_url"]))

    assert client.post(page + "/sources/clear", data={"csrf_token": token}).status_code == 303
    assert "0 held" in page_text(client.get(page))
