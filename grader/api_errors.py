"""Errors as RFC 9457 problem details (application/problem+json)."""

from __future__ import annotations

import json

from flask import Response


def problem(status: int, title: str, detail: str, **extra: object) -> Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return Response(json.dumps(body), status=status, mimetype="application/problem+json")
