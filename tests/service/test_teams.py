"""Teams: forming, joining and leaving within the size limits; the CSV import (all or nothing);
the limits counted per team; a team's submissions seen by every member and graded for each; staff
changes recorded in the audit trail; the leaderboard by team name; the API's team endpoints."""

from __future__ import annotations

import dataclasses
import io
import re

import pytest
from sqlalchemy import func, select
from support.pages import log_in, page_text

from grader.accounts.models import Role
from grader.accounts.services import issue_token
from grader.assignments.services import publish_spec
from grader.audit.models import Action, AuditEntry
from grader.engine.spec import find
from grader.extensions import db, utcnow
from grader.gradebooks.gradebook import gradebook_csv
from grader.gradebooks.leaderboard import leaderboard
from grader.gradebooks.scoreboard import course_overview, scoreboard
from grader.lti.passback import best_score
from grader.teams import services
from grader.teams.csv_import import ImportRefused, import_teams
from grader.teams.models import Team, TeamMember
from grader.teams.queries import team_of

from .apidata import bearer, grade, new_user, upload


@pytest.fixture
def teamwork(course, paraboloid):  # type: ignore[no-untyped-def]
    """The paraboloid done in teams of 2 to 3, an instructor and four students."""
    teacher = new_user(course, Role.INSTRUCTOR, "Ines Teacher")
    services.set_limits(teacher, paraboloid, 2, 3)
    people = {
        name: new_user(course, Role.STUDENT, f"{name.title()} Student")
        for name in ("ada", "bob", "cy", "dee")
    }
    return {"teacher": teacher, **people}


def _members(team: Team) -> list[str]:
    db.session.refresh(team)
    return [m.user.name for m in team.members]


def test_forming_joining_and_leaving_within_the_limits(paraboloid, teamwork):
    ada, bob, cy, dee = (teamwork[n] for n in ("ada", "bob", "cy", "dee"))
    team = services.create_team(ada, paraboloid, "  Gradient   Descenders ")
    assert team.name == "Gradient Descenders" and re.fullmatch(r"[0-9A-F]{8}", team.join_code)
    with pytest.raises(
        services.TeamRefused, match=r"already a team named 'Gradient Descenders'.*choose another"
    ):
        services.create_team(bob, paraboloid, "gradient descenders")
    with pytest.raises(services.TeamRefused, match=r"already in team 'Gradient Descenders'.*leave it first"):
        services.create_team(ada, paraboloid, "Another")
    with pytest.raises(services.TeamRefused, match=r"No team .* has the join code 'nope'; check it"):
        services.join_team(bob, paraboloid, "nope")
    services.join_team(bob, paraboloid, team.join_code.lower())
    services.join_team(cy, paraboloid, team.join_code)
    with pytest.raises(
        services.TeamRefused, match=r"is full: .* allows 3 members per team. Join or form another"
    ):
        services.join_team(dee, paraboloid, team.join_code)
    assert _members(team) == ["Ada Student", "Bob Student", "Cy Student"]
    services.leave_team(cy, paraboloid)
    assert team_of(cy.id, paraboloid.id) is None
    with pytest.raises(services.TeamRefused, match=r"You are in no team"):
        services.leave_team(cy, paraboloid)
    # Staff are not members; a course done alone has no teams.
    with pytest.raises(services.TeamRefused, match=r"Only students of the course"):
        services.create_team(teamwork["teacher"], paraboloid, "Staff")
    services.create_team(dee, paraboloid, "Solo")
    services.leave_team(dee, paraboloid)  # the last member leaves: the team is gone
    assert db.session.scalar(select(Team).where(Team.name == "Solo")) is None
    with pytest.raises(services.TeamRefused, match=r"has teams already; remove their members first"):
        services.set_limits(teamwork["teacher"], paraboloid, 1, None)
    with pytest.raises(services.TeamRefused, match=r"1 <= smallest <= largest"):
        services.set_limits(teamwork["teacher"], paraboloid, 3, 2)


def test_an_upload_needs_a_team_big_enough_and_the_limits_are_the_teams(client, paraboloid, teamwork):
    ada, bob, cy = teamwork["ada"], teamwork["bob"], teamwork["cy"]
    tokens = {name: issue_token(teamwork[name], "t", ["read", "submit"]) for name in ("ada", "bob", "cy")}
    refused = client.post(
        f"/api/v1/assignments/{paraboloid.id}/submissions", headers=bearer(tokens["cy"]),
        data={"file": (io.BytesIO(b"x = 1\n"), "main.py")}, content_type="multipart/form-data",
    )  # fmt: skip
    assert refused.status_code == 409
    assert "done in teams, and you are in none yet: form a team, or join" in refused.get_json()["detail"]
    team = services.create_team(ada, paraboloid, "Pair")
    too_small = client.post(
        f"/api/v1/assignments/{paraboloid.id}/submissions", headers=bearer(tokens["ada"]),
        data={"file": (io.BytesIO(b"x = 1\n"), "main.py")}, content_type="multipart/form-data",
    )  # fmt: skip
    assert too_small.status_code == 409
    assert (
        f"needs at least 2 per team: give classmates its join code {team.join_code}"
        in too_small.get_json()["detail"]
    )
    services.join_team(bob, paraboloid, team.join_code)
    first = upload(client, paraboloid.id, tokens["ada"])
    upload(client, paraboloid.id, tokens["ada"])
    upload(client, paraboloid.id, tokens["bob"])  # the daily limit is 3: the team's, not each member's
    fourth = client.post(
        f"/api/v1/assignments/{paraboloid.id}/submissions", headers=bearer(tokens["bob"]),
        data={"file": (io.BytesIO(b"x = 1\n"), "main.py")}, content_type="multipart/form-data",
    )  # fmt: skip
    assert fourth.status_code == 429
    assert "Your team 'Pair' has used all 3 submissions of the last 24 hours" in fourth.get_json()["detail"]
    # Both members see the team's submissions; a classmate outside it does not.
    assert client.get(f"/api/v1/submissions/{first['id']}", headers=bearer(tokens["bob"])).status_code == 200
    assert client.get(f"/api/v1/submissions/{first['id']}", headers=bearer(tokens["cy"])).status_code == 404
    listed = client.get(f"/api/v1/assignments/{paraboloid.id}/submissions", headers=bearer(tokens["bob"]))
    assert listed.get_json()["total"] == 3
    # After submitting, only staff change the team.
    db.session.refresh(team)
    assert team.submitted_at is not None
    with pytest.raises(services.TeamRefused, match=r"has already submitted.*only the course's instructors"):
        services.leave_team(bob, paraboloid)
    with pytest.raises(services.TeamRefused, match=r"has already submitted.*only the course's instructors"):
        services.join_team(cy, paraboloid, team.join_code)
    # Both get the grade: scoreboard, gradebook CSV and the LMS's number.
    grade(first["id"], score=80.0)
    rows = {r.name: r for r in scoreboard(paraboloid, per_page=None).rows}
    assert rows["Ada Student"].score == rows["Bob Student"].score == 80.0
    assert (
        rows["Ada Student"].attempts == rows["Bob Student"].attempts == 3 and rows["Cy Student"].score is None
    )
    text = gradebook_csv("moodle", paraboloid.title, 100.0, scoreboard(paraboloid, per_page=None).rows)
    assert f'"{ada.email}","Ada Student","80"' in text and f'"{bob.email}","Bob Student","80"' in text
    assert best_score(bob.id, paraboloid)[:2] == (80.0, 100.0) and best_score(cy.id, paraboloid) is None
    [summary] = course_overview(paraboloid.course_id, utcnow())[0]
    assert (summary.students, summary.submissions, summary.median_best) == (2, 3, 80.0)  # each member, once
    # The page of a member who did not upload shows it among the team's.
    log_in(client, bob)
    body = page_text(client.get(f"/assignments/{paraboloid.id}/team"))
    assert f"#{first['id']} main.py" in body and "by Ada Student" in body
    assert "80" in page_text(client.get(f"/submissions/{first['id']}/result"))


def test_an_instructor_moves_a_student_and_the_trail_records_it(client, paraboloid, teamwork):
    ada, bob, cy, teacher = teamwork["ada"], teamwork["bob"], teamwork["cy"], teamwork["teacher"]
    team = services.create_team(ada, paraboloid, "Pair")
    services.join_team(bob, paraboloid, team.join_code)
    grade(upload(client, paraboloid.id, issue_token(ada, "t", ["read", "submit"]))["id"], score=64.0)
    other = services.create_team(cy, paraboloid, "Other")
    with pytest.raises(Exception, match=r"Only the course's instructors can change a team"):
        services.move_member(ada, paraboloid, bob, other, "swap")
    services.move_member(teacher, paraboloid, bob, other, "Bob worked with Cy from week 2")
    assert team_of(bob.id, paraboloid.id).name == "Other" and _members(team) == ["Ada Student"]
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == Action.TEAM_CHANGED))
    assert entry.student_id == bob.id and entry.actor_id == teacher.id and entry.subject_label == "Other"
    assert entry.reason == "Bob worked with Cy from week 2"
    assert entry.details == {"assignment": paraboloid.title, "from": "Pair", "to": "Other"}
    # The grade is the team's members' now: the boards and the LMS agree.
    rows = {r.name: r.score for r in scoreboard(paraboloid, per_page=None).rows}
    assert rows == {"Ada Student": 64.0, "Bob Student": None, "Cy Student": None, "Dee Student": None}
    assert best_score(ada.id, paraboloid)[:2] == (64.0, 100.0) and best_score(bob.id, paraboloid) is None
    # Through the API, with a reason required and a 409 for a full team.
    token = issue_token(teacher, "t", ["read", "grade"])
    url = f"/api/v1/assignments/{paraboloid.id}/teams/members/{bob.id}"
    assert client.put(url, json={"team_id": other.id}, headers=bearer(token)).status_code == 422
    moved = client.put(url, json={"team_id": team.id, "reason": "back"}, headers=bearer(token))
    assert moved.status_code == 200, moved.get_json()
    assert {t["name"]: len(t["members"]) for t in moved.get_json()["items"]} == {"Other": 1, "Pair": 2}
    assert db.session.scalar(select(func.count()).where(AuditEntry.action == Action.TEAM_CHANGED)) == 2


def test_csv_import_is_all_or_nothing_with_each_bad_line_named(client, paraboloid, teamwork):
    ada, bob, cy, dee, teacher = (teamwork[n] for n in ("ada", "bob", "cy", "dee", "teacher"))
    outsider = new_user(None, Role.STUDENT, "Outsider")
    bad = (
        "email,team\n"
        f"{ada.email},Red\n"
        f"{bob.email.upper()},Red\n"
        f"{outsider.email},Red\n"
        f"{ada.email},Blue\n"
        ",Blue\n"
        f"{cy.email},\n"
    )
    with pytest.raises(ImportRefused) as refused:
        import_teams(teacher, paraboloid, bad)
    assert refused.value.problems == [
        f"line 4: {outsider.email} is not a student of the course (enroll them first, or fix the address)",
        f"line 5: {ada.email} is already listed on line 2 (a student is in one team)",
        "line 6: (no email) is not a student of the course (enroll them first, or fix the address)",
        "line 7: the team's name must have 1 to 80 characters",
    ]
    assert db.session.scalar(select(func.count()).select_from(TeamMember)) == 0  # nothing half-written
    too_big = "team,email\n" + "".join(f"Red,{u.email}\n" for u in (ada, bob, cy, dee))
    with pytest.raises(ImportRefused) as refused:
        import_teams(teacher, paraboloid, too_big)
    assert refused.value.problems == [
        f"team 'Red': 4 members, but {paraboloid.title!r} allows 3 per team (split it, or raise the limit)"
    ]
    with pytest.raises(ImportRefused, match=r"header team,email"):
        import_teams(teacher, paraboloid, f"{ada.email},Red\n")
    done = import_teams(
        teacher, paraboloid, f"team,email\nRed,{ada.email}\nRed,{bob.email}\nBlue,{cy.email}\n"
    )
    assert done.created == ["Red", "Blue"] and done.placed == 3
    assert team_of(bob.id, paraboloid.id).name == "Red"
    assert db.session.scalar(select(func.count()).where(AuditEntry.action == Action.TEAM_CHANGED)) == 3
    # Through the API: the problems come back with their lines.
    client_token = issue_token(teacher, "t", ["read", "grade"])
    answer = client.post(
        f"/api/v1/assignments/{paraboloid.id}/teams/import", headers=bearer(client_token),
        json={"csv": f"team,email\nRed,{outsider.email}\n"},
    )  # fmt: skip
    assert answer.status_code == 422
    assert answer.get_json()["problems"] == [
        f"line 2: {outsider.email} is not a student of the course (enroll them first, or fix the address)"
    ]


def test_the_leaderboard_shows_teams_by_name(client, paraboloid, teamwork):
    ada, bob, cy, dee = (teamwork[n] for n in ("ada", "bob", "cy", "dee"))
    paraboloid.leaderboard = True
    db.session.commit()
    red = services.create_team(ada, paraboloid, "Red Team")
    services.join_team(bob, paraboloid, red.join_code)
    blue = services.create_team(cy, paraboloid, "Blue Team")
    services.join_team(dee, paraboloid, blue.join_code)
    grade(upload(client, paraboloid.id, issue_token(bob, "t", ["read", "submit"]))["id"], score=90.0)
    grade(upload(client, paraboloid.id, issue_token(cy, "t", ["read", "submit"]))["id"], score=70.0)
    board = leaderboard(paraboloid, ada, utcnow())
    assert [(e.rank, e.pseudonym, e.score) for e in board.listed] == [
        (1, "Red Team", 90.0),
        (2, "Blue Team", 70.0),
    ]
    assert board.me is not None and board.me.pseudonym == "Red Team"
    log_in(client, dee)
    body = " ".join(
        re.sub(r"<[^>]+>", "", page_text(client.get(f"/assignments/{paraboloid.id}/leaderboard"))).split()
    )
    assert "Red Team" in body and "Blue Team (you)" in body and "Ada Student" not in body
    assert (
        "2 teams listed" in body and "Teams appear under their team names" in body and "pseudonym" not in body
    )


def test_the_team_api_forms_joins_and_lists(client, paraboloid, teamwork):
    ada, bob = teamwork["ada"], teamwork["bob"]
    a, b = (issue_token(u, "t", ["read", "submit"]) for u in (ada, bob))
    base = f"/api/v1/assignments/{paraboloid.id}/teams"
    formed = client.post(base, json={"name": "Pair"}, headers=bearer(a))
    assert formed.status_code == 201, formed.get_json()
    code = formed.get_json()["join_code"]
    assert client.post(f"{base}/join", json={"code": "WRONG"}, headers=bearer(b)).status_code == 404
    joined = client.post(f"{base}/join", json={"code": code}, headers=bearer(b))
    assert [m["name"] for m in joined.get_json()["members"]] == ["Ada Student", "Bob Student"]
    described = client.get(f"/api/v1/assignments/{paraboloid.id}", headers=bearer(b)).get_json()
    assert (described["team_min"], described["team_max"], described["teams_url"]) == (2, 3, base)
    mine = client.get(base, headers=bearer(b)).get_json()
    assert mine["team_max"] == 3 and [t["name"] for t in mine["items"]] == ["Pair"]
    assert client.post(f"{base}/leave", headers=bearer(b)).get_json() == {"left": "Pair"}
    again = client.post(f"{base}/leave", headers=bearer(b))
    assert again.status_code == 404 and "You are in no team" in again.get_json()["detail"]
    sizes = client.put(f"/api/v1/assignments/{paraboloid.id}/team-sizes", json={"team_min": 1, "team_max": 4},
                       headers=bearer(a))  # fmt: skip
    assert sizes.status_code == 403
    staff = issue_token(teamwork["teacher"], "t", ["read", "grade"])
    sizes = client.put(f"/api/v1/assignments/{paraboloid.id}/team-sizes", json={"team_min": 1, "team_max": 4},
                       headers=bearer(staff))  # fmt: skip
    assert sizes.get_json() == {"team_min": 1, "team_max": 4}


def test_the_spec_sets_a_new_assignment_s_team_sizes(course):
    spec = find("paraboloid")
    teamed = dataclasses.replace(
        spec, submissions=dataclasses.replace(spec.submissions, team_min=2, team_max=3)
    )
    assignment = publish_spec(course, teamed)
    assert (assignment.team_min, assignment.team_max, assignment.in_teams) == (2, 3, True)


def test_staff_set_sizes_import_and_move_on_the_teams_page(client, paraboloid, teamwork):
    ada, bob, teacher = teamwork["ada"], teamwork["bob"], teamwork["teacher"]
    token = log_in(client, teacher)
    url = f"/assignments/{paraboloid.id}/teams"
    refused = client.post(f"{url}/limits", data={"csrf_token": token, "team_min": "3", "team_max": "2"})
    assert "1 <= smallest <= largest" in page_text(refused, 422)
    assert (
        client.post(f"{url}/limits", data={"csrf_token": token, "team_min": "1", "team_max": "2"}).status_code
        == 302
    )
    bad = f"team,email\nRed,{ada.email}\nRed,nobody@example.edu\n".encode()
    answer = client.post(
        f"{url}/import", data={"csrf_token": token, "file": (io.BytesIO(bad), "teams.csv")},
        content_type="multipart/form-data",
    )  # fmt: skip
    body = page_text(answer, 422)
    assert (
        "Nothing was imported: 1 problem(s)" in body and "line 3: nobody@example.edu is not a student" in body
    )
    good = f"team,email\nRed,{ada.email}\nBlue,{bob.email}\n".encode()
    answer = client.post(
        f"{url}/import", data={"csrf_token": token, "file": (io.BytesIO(good), "teams.csv"), "reason": "week 1"},
        content_type="multipart/form-data",
    )  # fmt: skip
    assert answer.status_code == 302
    moved = client.post(
        f"{url}/move", data={"csrf_token": token, "email": bob.email, "team": "Red", "reason": "asked to"}
    )
    assert moved.status_code == 302
    page = page_text(client.get(f"/assignments/{paraboloid.id}/team"))
    assert "Bob Student is now in team 'Red'" in page and "Teams (1)" in page  # Blue, left empty, is gone
    assert team_of(bob.id, paraboloid.id).name == "Red"
    reasons = db.session.scalars(
        select(AuditEntry.reason).where(AuditEntry.action == Action.TEAM_CHANGED).order_by(AuditEntry.id)
    ).all()
    assert reasons == ["week 1", "week 1", "asked to"]
    # A student cannot do any of it.
    student = client.application.test_client()
    token = log_in(student, ada)
    forbidden = student.post(
        f"{url}/move", data={"csrf_token": token, "email": bob.email, "team": "", "reason": "x"}
    )
    assert forbidden.status_code == 403


def test_an_import_may_swap_students_and_refill_a_team_it_empties(paraboloid, teamwork):
    ada, bob, cy, teacher = teamwork["ada"], teamwork["bob"], teamwork["cy"], teamwork["teacher"]
    import_teams(teacher, paraboloid, f"team,email\nRed,{ada.email}\nBlue,{bob.email}\n")
    import_teams(teacher, paraboloid, f"team,email\nRed,{bob.email}\nBlue,{ada.email}\n")
    assert (team_of(ada.id, paraboloid.id).name, team_of(bob.id, paraboloid.id).name) == ("Blue", "Red")
    # Ada leaves Blue (her only teammate went to Red) and Cy fills it; Bob leaves Red empty: it goes.
    done = import_teams(
        teacher, paraboloid, f"team,email\nGreen,{ada.email}\nBlue,{cy.email}\nGreen,{bob.email}\n"
    )
    assert done.created == ["Green"] and done.placed == 3
    names = db.session.scalars(
        select(Team.name).where(Team.assignment_id == paraboloid.id).order_by(Team.name)
    )
    assert list(names) == ["Blue", "Green"]


def test_a_race_the_database_catches_is_refused_and_writes_nothing(paraboloid, teamwork, monkeypatch):
    ada = teamwork["ada"]
    services.create_team(ada, paraboloid, "First")
    # As if a second click had passed the check before the first one's commit.
    monkeypatch.setattr(services, "_not_in_one", lambda *args, **kwargs: None)
    with pytest.raises(services.TeamRefused, match="The teams changed while this was being saved"):
        services.create_team(ada, paraboloid, "Second")
    assert db.session.scalar(select(Team.id).where(Team.name == "Second")) is None
    assert team_of(ada.id, paraboloid.id).name == "First"
