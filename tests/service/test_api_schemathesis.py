"""A property-based run of the live API against its own OpenAPI document (schemathesis).

Every operation is called with generated parameters and bodies, both on random ids and on seeded
data (a course with a graded submission, a webhook), with a token that has every scope: no response
may be a server error, and every response must match the document (status, content type, headers,
body schema). Bounded, so it takes seconds.
"""

from __future__ import annotations

import time
from typing import Any

import hypothesis.strategies as st
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from grader.accounts.models import Role
from grader.accounts.services import issue_token
from grader.rest.registry import PREFIX
from grader.similarity import services as similarity
from grader.webhooks import services as webhooks

from .apidata import bearer, grade, new_user, upload

pytestmark = pytest.mark.long  # hundreds of generated requests

EXAMPLES = 12  # per operation, on random ids and on seeded ones each


@pytest.fixture
def seeded(client, course, paraboloid, student_token):  # type: ignore[no-untyped-def]
    instructor = new_user(course, Role.INSTRUCTOR, "Ines")
    graded = upload(client, paraboloid.id, student_token)
    grade(graded["id"])
    hook, _ = webhooks.register(course.id, "https://hooks.example.edu/grader", instructor)
    webhooks.record_scored(graded["id"])
    check = similarity.start_check(paraboloid, instructor)
    similarity.run_check(check.id)
    return {
        "token": issue_token(instructor, "fuzz", ["admin"]),
        "ids": {
            "course_id": course.id, "assignment_id": paraboloid.id, "submission_id": graded["id"],
            "webhook_id": hook.id, "check_id": check.id,
        },
    }  # fmt: skip


def _run(strategy: st.SearchStrategy[schemathesis.Case], examples: int, headers: dict[str, str],
         excluded: list[Any]) -> None:  # fmt: skip
    @given(case=strategy)
    @settings(
        max_examples=examples, deadline=None, database=None, derandomize=True,
        phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
    )  # fmt: skip
    def call(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, excluded_checks=excluded)

    call()


def test_the_api_matches_its_document_under_generated_requests(app, seeded):
    started = time.monotonic()
    schema = schemathesis.openapi.from_wsgi(f"{PREFIX}/openapi.json", app)
    headers = bearer(seeded["token"])
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 16
    for operation in operations:
        # An upload's content is judged by the grader (file type, a zip's safety, the limits): a file
        # the schema allows may still be refused, with a 422 or 429 the document lists.
        upload_op = operation.method.upper() == "POST" and operation.path.endswith("/submissions")
        # A team change depends on the teams as they are (full, already submitted, already in one,
        # done alone): a well-formed request may be refused with the 404, 409 or 422 it documents.
        team_op = operation.method.upper() in ("POST", "PUT") and "/team" in operation.path
        excluded = [positive_data_acceptance] if upload_op or team_op else []
        names = {p.name for p in operation.path_parameters}
        fixed = {name: value for name, value in seeded["ids"].items() if name in names}
        strategy = operation.as_strategy()
        if fixed:
            strategy = st.one_of(strategy, operation.as_strategy(path_parameters=fixed))
        # Invalid input too (bad query parameters and bodies): a 4xx problem, never a 500.
        strategy = st.one_of(
            strategy, operation.as_strategy(GenerationMode.NEGATIVE, path_parameters=fixed or None)
        )
        _run(strategy, EXAMPLES * (2 if fixed else 1), headers, excluded)
    assert time.monotonic() - started < 60
