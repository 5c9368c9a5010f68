"""Errors as RFC 9457 problem details (application/problem+json)."""

from __future__ import annotations

import json

from flask import Response

PROBLEM_JSON = "application/problem+json"


def problem(status: int, title: str, detail: str, **extra: object) -> Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)


class ApiProblem(Exception):
    """Raised by API handlers and their helpers; becomes a problem+json response with ``detail``.

    ``detail`` says what was wrong and how to put it right; ``extra`` adds members to the body
    (for example ``errors``, one entry per bad parameter).
    """

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        headers: dict[str, str] | None = None,
        **extra: object,
    ) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail
        self.headers = headers or {}
        self.extra = extra

    def response(self) -> Response:
        response = problem(self.status, self.title, self.detail, **self.extra)
        response.headers.update(self.headers)
        return response
