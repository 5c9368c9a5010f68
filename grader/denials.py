"""The two ways a request is refused for who is asking. They are HTTP errors, so a page renders
them as its error page and the API (``rest.http_problem``) as problem+json, each with the
description given here, which says what the caller may not do and never what exists."""

from __future__ import annotations

from werkzeug.exceptions import Forbidden, NotFound


class NotYours(NotFound):
    """The thing is not there for this caller: the same answer whether it does not exist, belongs to
    another course or is hidden from students, so a 404 tells nobody what exists."""


class StaffOnly(Forbidden):
    """The caller may see the thing but not do this to it: only the course's staff may."""

    def __init__(self, doing: str) -> None:
        super().__init__(f"Only the course's instructors can {doing}.")


def denied(error: Exception) -> bool:
    """Whether the error is one of these refusals (their description is written for the caller)."""
    return isinstance(error, (NotYours, StaffOnly))
