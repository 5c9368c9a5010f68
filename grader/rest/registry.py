"""The API's routes, recorded as they are declared.

``Api.operation`` both registers a Flask view and records what the route takes and returns
(method, path, scope, query model, body model, response model, error statuses). The OpenAPI
document (``openapi.py``) is built from that record, and the view parses its input and serializes
its output through the very same pydantic models, so the document cannot drift from the code: a
handler that returns something its schema does not describe fails here, not in a client.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, request
from pydantic import BaseModel, ValidationError
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import HTTPException

from grader.accounts.models import User
from grader.accounts.services import user_for_token
from grader.api_errors import ApiProblem, problem
from grader.extensions import db
from grader.outage import database_unavailable, unavailable_response

from .schemas import MAX_ID, Page

PREFIX = "/api/v1"
SCOPES = {
    "read": "Read courses, assignments, submissions, results and (for staff) scoreboards and grades.",
    "submit": "Upload submissions.",
    "grade": "Staff actions on submissions, such as a regrade.",
    "admin": "Everything above, and managing a course's webhooks.",
}
TOKEN_HINT = "Create a token with `grader tokens create --email YOU --scopes read,submit --name NAME`."


@dataclass(frozen=True)
class Operation:
    method: str
    rule: str  # the Flask rule under PREFIX, e.g. "/courses/<int:course_id>"
    endpoint: str
    summary: str
    description: str
    tag: str
    scope: str | None  # None: no token needed
    query: type[BaseModel] | None
    body: type[BaseModel] | None  # a JSON request body
    upload: str | None  # a multipart form field holding a file
    form: tuple[tuple[str, str], ...]  # optional text fields beside the upload: (name, description)
    response: type[BaseModel] | None  # None: ``media_type`` is not JSON (a CSV file)
    status: int
    media_type: str
    errors: tuple[int, ...]
    headers: tuple[str, ...] = ()  # response headers on success (documented)


OPERATIONS: list[Operation] = []


@dataclass
class Reply:
    """A body with a status other than the operation's usual one, or with headers."""

    body: BaseModel
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)


def caller(scope: str) -> User:
    """The user of the request's bearer token, if it carries ``scope`` (admin carries every scope)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    challenge = {"WWW-Authenticate": 'Bearer realm="grader"'}
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiProblem(
            401,
            "Unauthorized",
            f"Send an API token as 'Authorization: Bearer <token>'. {TOKEN_HINT}",
            challenge,
        )
    user, why = user_for_token(token.strip(), scope)
    if user is None:
        if "unknown" in why:
            raise ApiProblem(401, "Unauthorized", f"{why} {TOKEN_HINT}", challenge)
        raise ApiProblem(
            403, "Forbidden", f"{why} Use a token created with --scopes {scope} (or admin) for this request."
        )
    return user


def _errors(error: ValidationError, where: str) -> list[dict[str, str]]:
    found = []
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"]) or where
        if item["type"] == "extra_forbidden":
            message = f"is not a {where} this endpoint takes: leave it out"
        else:
            message = item["msg"][0].lower() + item["msg"][1:]
            if "input" in item and not isinstance(item["input"], (dict, list)):
                message += f" (got {str(item['input'])[:40]!r})"
        found.append({"parameter": name, "message": message})
    return found


def _explain(found: list[dict[str, str]], where: str) -> str:
    said = "; ".join(f"{where} '{e['parameter']}' {e['message']}" for e in found)
    return f"{said[0].upper()}{said[1:]}. See /api/v1/openapi.json for what this endpoint accepts."


def parse_query(model: type[BaseModel]) -> BaseModel:
    raw: dict[str, str] = {}
    for key in request.args:
        values = request.args.getlist(key)
        if len(values) > 1:
            raise ApiProblem(
                400, "Bad Request", f"Give the query parameter '{key}' once, not {len(values)} times."
            )
        raw[key] = values[0]
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        found = _errors(error, "query parameter")
        raise ApiProblem(400, "Bad Request", _explain(found, "query parameter"), errors=found) from None


def parse_body(model: type[BaseModel]) -> BaseModel:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiProblem(
            400,
            "Bad Request",
            "Send the request body as a JSON object with 'Content-Type: application/json'.",
        )
    try:
        return model.model_validate(body)
    except ValidationError as error:
        found = _errors(error, "member")
        raise ApiProblem(422, "Unprocessable Content", _explain(found, "member"), errors=found) from None


def _links(page: Page) -> str:
    """RFC 8288 links to the neighbouring pages, keeping the request's other parameters."""
    args = {key: value for key, value in request.args.items() if key != "page"}
    base = request.base_url

    def link(number: int, rel: str) -> str:
        return f'<{base}?{urlencode({**args, "page": number})}>; rel="{rel}"'

    links = [link(1, "first"), link(page.pages, "last")]
    if page.page < page.pages:
        links.append(link(page.page + 1, "next"))
    if page.page > 1:
        links.append(link(min(page.page - 1, page.pages), "prev"))
    return ", ".join(links)


def render(operation: Operation, result: Any) -> Response:
    """The handler's return value as a response, serialized through the operation's model."""
    if isinstance(result, Response):
        return result
    reply = result if isinstance(result, Reply) else Reply(result)
    model = operation.response
    if model is None or not isinstance(reply.body, model):
        raise TypeError(
            f"{operation.endpoint} returned {type(reply.body).__name__}, not its declared {model}"
        )
    # Through the model again: a value assigned after construction is checked too.
    data = model.model_validate(reply.body.model_dump()).model_dump(mode="json")
    response = Response(json.dumps(data, allow_nan=False), status=reply.status or operation.status)
    response.mimetype = operation.media_type
    if isinstance(reply.body, Page):
        response.headers["Link"] = _links(reply.body)
    response.headers.update(reply.headers)
    return response


def server_error(error: Exception) -> Response:
    """An unexpected failure inside an API view: nothing half-written stays, the problem is logged.

    HTTP errors raised inside a view (a body over the size limit while the form is read, say) are
    not failures: the blueprint's catch-all would otherwise reach them before the app's handler.
    """
    if database_unavailable(error):
        return unavailable_response(error)  # 503 + Retry-After: the database is restarting
    db.session.rollback()
    if isinstance(error, HTTPException):
        from . import http_problem  # the package imports this module: imported at call time

        return http_problem(error)
    current_app.logger.exception("API request %s %s failed", request.method, request.path)
    return problem(
        500,
        "Internal Server Error",
        "The grader failed on this request and logged why; nothing it started was kept. "
        "Try again in a minute; if it keeps failing, tell the course's instructors.",
    )


class Api:
    """A blueprint under /api/v1 whose routes are recorded for the OpenAPI document."""

    def __init__(self, name: str, tag: str) -> None:
        self.blueprint = Blueprint(name, __name__, url_prefix=PREFIX)
        self.blueprint.register_error_handler(ApiProblem, lambda e: e.response())
        self.blueprint.register_error_handler(Exception, server_error)
        self.tag = tag

    def operation(
        self,
        method: str,
        rule: str,
        *,
        summary: str,
        scope: str | None = "read",
        query: type[BaseModel] | None = None,
        body: type[BaseModel] | None = None,
        upload: str | None = None,
        form: tuple[tuple[str, str], ...] = (),
        response: type[BaseModel] | None = None,
        status: int = 200,
        media_type: str = "application/json",
        errors: tuple[int, ...] = (),
        headers: tuple[str, ...] = (),
    ) -> Callable[[Callable[..., Any]], Callable[..., Response]]:
        """Register ``handler(user, [query=], [body=], [upload=], [form=], **path)`` at ``rule``."""

        def decorate(handler: Callable[..., Any]) -> Callable[..., Response]:
            name = handler.__name__
            documented = set(errors) | {404, 503}  # 503: the database is restarting (Retry-After)
            if scope is not None:
                documented |= {401, 403}
            if query is not None or body is not None or upload is not None:
                documented |= {400}
            if body is not None:
                documented |= {422}
            operation = Operation(
                method=method, rule=rule, endpoint=f"{self.blueprint.name}.{name}", summary=summary,
                description=(handler.__doc__ or summary).strip(), tag=self.tag, scope=scope, query=query,
                body=body, upload=upload, form=form, response=response, status=status, media_type=media_type,
                errors=tuple(sorted(documented)), headers=headers,
            )  # fmt: skip
            OPERATIONS.append(operation)

            @functools.wraps(handler)
            def view(**path: Any) -> Response:
                for key, value in path.items():
                    if isinstance(value, int) and not 1 <= value <= MAX_ID:
                        raise ApiProblem(404, "Not Found", f"There is no {key.removesuffix('_id')} {value}.")
                user = caller(scope) if scope is not None else None
                kwargs: dict[str, Any] = dict(path)
                if query is not None:
                    kwargs["query"] = parse_query(query)
                if body is not None:
                    kwargs["body"] = parse_body(body)
                if upload is not None:
                    kwargs["upload"] = _upload(upload)
                if form:
                    kwargs["form"] = {name: request.form.get(name) for name, _ in form}
                return render(operation, handler(user, **kwargs))

            self.blueprint.add_url_rule(rule, name, view, methods=[method])
            return view

        return decorate


def _upload(name: str) -> FileStorage:
    upload = request.files.get(name)
    if upload is None or not upload.filename:
        raise ApiProblem(
            400,
            "Bad Request",
            f"Send the file as a multipart/form-data field named '{name}' (with a filename).",
            errors=[{"parameter": name, "message": "is missing"}],
        )
    return upload
