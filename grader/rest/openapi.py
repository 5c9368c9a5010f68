"""The OpenAPI 3.1 document, built from the route registry and the pydantic models' JSON Schemas.

Pydantic v2 writes JSON Schema 2020-12, the dialect OpenAPI 3.1 uses, so the models' schemas go
into ``components.schemas`` as they are; only the query parameters are unfolded into parameters.
"""

from __future__ import annotations

import inspect
import re
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from grader.api_errors import PROBLEM_JSON

from .registry import OPERATIONS, PREFIX, SCOPES, Operation
from .schemas import MAX_ID, MAX_PER_PAGE, Problem

VERSION = "1.0.0"
REF = "#/components/schemas/{model}"
PATH_PARAMETER = re.compile(r"<(?:(\w+):)?(\w+)>")

DESCRIPTION = f"""\
The grader's REST API: courses, assignments, submissions and their results, scoreboards and
grades, webhooks, the class similarity check.

**Tokens.** Send `Authorization: Bearer <token>`. Tokens are made with
`grader tokens create --email YOU --scopes read,submit --name laptop` (only their SHA-256 is
kept). Scopes: {"; ".join(f"`{name}`: {text}" for name, text in SCOPES.items())}
Each operation lists the scope it needs under `security`.

**Paging.** Lists take `?page=` (from 1) and `?per_page=` (at most {MAX_PER_PAGE}); the body
has `total` and `pages`, and the `Link` header links the first, last, next and previous pages.

**Errors.** Every error is `application/problem+json` (RFC 9457); `detail` says what was wrong
and how to put it right, `errors` lists each bad parameter.
"""


def _openapi_path(rule: str) -> tuple[str, list[dict[str, Any]]]:
    parameters = []
    for converter, name in PATH_PARAMETER.findall(rule):
        schema: dict[str, Any] = (
            {"type": "integer", "minimum": 1, "maximum": MAX_ID} if converter == "int" else {"type": "string"}
        )
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    return PREFIX + PATH_PARAMETER.sub(r"{\2}", rule), parameters


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent or has a value: ``T | None`` is just T there."""
    options = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
    if len(options) == 1:
        rest = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
        schema = {**options[0], **rest}
    return schema


def _inline(schema: Any, definitions: dict[str, Any]) -> Any:
    """The schema with its local $refs replaced by what they name (a parameter has no $defs of its own)."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            target = {k: v for k, v in definitions[ref.rsplit("/", 1)[1]].items() if k != "title"}
            return _inline({**target, **{k: v for k, v in schema.items() if k != "$ref"}}, definitions)
        return {k: _inline(v, definitions) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_inline(v, definitions) for v in schema]
    return schema


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    whole = model.model_json_schema()
    properties = _inline(whole["properties"], whole.get("$defs", {}))
    parameters = []
    for name, info in model.model_fields.items():
        schema = _without_null({k: v for k, v in properties[name].items() if k != "title"})
        description = schema.pop("description", None)
        parameter: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": info.is_required(),
            "schema": schema,
        }
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


def _problem_response(status: int, problem_ref: dict[str, str]) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": HTTPStatus(status).phrase + " (the problem's detail says what to fix).",
        "content": {PROBLEM_JSON: {"schema": problem_ref}},
    }
    if status == 503:
        response["headers"] = {
            "Retry-After": {
                "description": "Seconds to wait before trying again (the database is restarting).",
                "schema": {"type": "string"},
            }
        }
    return response


def _operation(operation: Operation, refs: dict[Any, Any]) -> dict[str, Any]:
    _, path_parameters = _openapi_path(operation.rule)
    parameters = path_parameters + (_query_parameters(operation.query) if operation.query else [])
    success: dict[str, Any] = {"description": HTTPStatus(operation.status).phrase}
    if operation.response is not None:
        success["content"] = {operation.media_type: {"schema": refs[(operation.response, "serialization")]}}
    else:
        success["content"] = {operation.media_type: {"schema": {"type": "string"}}}
    headers = {
        name: {"description": text, "schema": {"type": "string"}}
        for name, text in (
            ("Link", "RFC 8288 links to the first, last, next and previous pages."),
            ("Location", "Where the new resource is."),
            ("Content-Disposition", "The file name to save the download as."),
            (
                "X-Grader-Left-Out",
                "How many graded students the file leaves out: their email is an LTI "
                "placeholder (ending in .invalid) that no gradebook import can match.",
            ),
        )
        if name in operation.headers
    }
    if headers:
        success["headers"] = headers
    problem_ref = refs[(Problem, "serialization")]
    responses = {str(operation.status): success} | {
        str(status): _problem_response(status, problem_ref) for status in operation.errors
    }
    document: dict[str, Any] = {
        "operationId": operation.endpoint.replace(".", "_"),
        "summary": operation.summary,
        "description": inspect.cleandoc(operation.description),
        "tags": [operation.tag],
        "parameters": parameters,
        "responses": responses,
    }
    if operation.scope is not None:
        # OpenAPI 3.1 lets a non-OAuth scheme list the roles it needs: here, the token's scope.
        document["security"] = [{"bearerToken": [operation.scope]}]
        also = "" if operation.scope == "admin" else " (or `admin`)"
        document["description"] += f"\n\nNeeds a token with the `{operation.scope}` scope{also}."
    else:
        document["security"] = []
    if operation.body is not None:
        document["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(operation.body, "validation")]}},
        }
    if operation.upload is not None:
        file_schema = {"type": "string", "format": "binary", "contentMediaType": "application/octet-stream"}
        document["requestBody"] = {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            operation.upload: file_schema,
                            **{
                                name: {"type": "string", "description": text} for name, text in operation.form
                            },
                        },
                        "required": [operation.upload],
                    }
                }
            },
        }
    return document


def document() -> dict[str, Any]:
    """The whole OpenAPI 3.1 document of /api/v1, from the registry."""
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(Problem, "serialization")]
    for operation in OPERATIONS:
        if operation.response is not None:
            wanted.append((operation.response, "serialization"))
        if operation.body is not None:
            wanted.append((operation.body, "validation"))
    unique = list(dict.fromkeys(wanted))
    refs, definitions = models_json_schema(unique, ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for operation in sorted(OPERATIONS, key=lambda o: (o.rule, o.method)):
        path, _ = _openapi_path(operation.rule)
        paths.setdefault(path, {})[operation.method.lower()] = _operation(operation, refs)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Grader API", "version": VERSION, "description": DESCRIPTION},
        "servers": [{"url": "/"}],
        "tags": [{"name": name} for name in sorted({o.tag for o in OPERATIONS})],
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {
                "bearerToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token: `grader tokens create --email YOU --scopes read,submit --name NAME`.",
                }
            },
        },
    }
