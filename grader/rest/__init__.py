"""The REST API under /api/v1: one module of routes per resource (``courses``, ``assignments``,
``submissions``, ``grades``, ``sweeps``, ``webhooks``), thin over the domains' services and queries
and the access kit (grader/access), like the pages; what they share: the route registry
(``registry``), the models every resource uses (``schemas``), the document built from them
(``openapi``) and problem+json errors.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from grader.api_errors import problem
from grader.denials import denied

from .registry import PREFIX

blueprint = Blueprint("rest", __name__, url_prefix=PREFIX)


@blueprint.get("/openapi.json")
def openapi_document() -> Response:
    document: dict[str, Any] | None = current_app.extensions.get("grader.openapi")
    if document is None:
        from .openapi import document as build

        document = current_app.extensions["grader.openapi"] = build()
    response = jsonify(document)
    response.headers["Access-Control-Allow-Origin"] = "*"  # the document is public: let viewers fetch it
    return response


def http_problem(error: HTTPException) -> Response:
    """An HTTP error under /api/ as problem+json, saying what to change (routing errors included)."""
    code = error.code or 500
    where = f"{request.method} {request.path}"
    original = error.get_response()
    if denied(error):  # the access kit's refusal: its description is written for the caller
        detail = error.description or error.name
    elif code == 404:
        detail = f"There is no API endpoint {where}. The endpoints are listed in {PREFIX}/openapi.json."
    elif code == 405:
        allowed = [m.strip() for m in original.headers.get("Allow", "").split(",") if m.strip()]
        useful = [m for m in allowed if m not in ("HEAD", "OPTIONS")] or allowed
        detail = f"{request.method} is not allowed on {request.path}; use {' or '.join(useful) or 'another method'}."
    elif code == 413:
        limit = current_app.extensions["grader.config"].upload_max_bytes
        detail = (
            f"The request is too large: uploads may be at most {limit // 1024:,} KiB. Send a smaller file."
        )
    elif code == 500:
        detail = "The grader failed on this request and logged why. Try again in a minute."
    else:
        detail = error.description or error.name
    response = problem(code, error.name, detail)
    for header in ("Allow", "WWW-Authenticate", "Retry-After"):
        if header in original.headers:
            response.headers[header] = original.headers[header]
    return response
