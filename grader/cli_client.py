"""``grader submit`` (a student's side, over the REST API) and ``grader tokens create`` (the server's side).

grader submit ASSIGNMENT FILE --server URL [--token T]   upload, follow the grading, print the result
grader tokens create --email E --scopes read,submit --name N   make an API token (printed once)

``submit`` exits 0 when the submission is scored, 1 when it failed (your code), 2 when it was
refused or the grader could not be reached or failed (the problem's detail is printed).

The token goes to the server given and nowhere else: a redirect to another server, or a link in a
response that points to one, is refused rather than followed with the token (urllib's own redirect
handler would resend the Authorization header to any host). A plain-http server that is not this
machine gets a warning, since the token and the code would cross the network readable.
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import IO, Any, TextIO
from urllib.parse import quote, urlsplit

from grader.config import ClientConfig
from grader.workers.queue_words import ordinal

POLL_SECONDS = 1.0
BAR_WIDTH = 24


class ClientError(Exception):
    """The request failed; the message says why and what to do (a problem's detail when there is one)."""


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:  # a port that is not a number: matches nothing
        port = -1
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def same_server(server: str, url: str) -> bool:
    """Whether ``url`` is on the grader at ``server``, so the token may go with a request to it: the
    same scheme, host and port, or the same host moved from http to https (an upgrade hides the token
    better; the reverse would send it readable)."""
    scheme, host, port = _origin(server)
    to_scheme, to_host, to_port = _origin(url)
    if not host or to_host != host:
        return False
    return (to_scheme, to_port) == (scheme, port) or (scheme, to_scheme) == ("http", "https")


def plain_http_warning(server: str) -> str | None:
    """A warning when the token and the code would go over the network unencrypted."""
    parts = urlsplit(server)
    if parts.scheme.lower() != "http":
        return None
    host = (parts.hostname or "").lower()
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        return None  # never leaves this machine
    return (
        f"warning: {server} is plain http: your token and your code cross the network unencrypted, "
        "readable by anyone on the way; use the grader's https:// address"
    )


class _SameServerRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only within the grader's own server, where the token belongs."""

    def __init__(self, server: str) -> None:
        self.server = server

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        if not same_server(self.server, newurl):
            fp.close()
            raise ClientError(
                f"the grader at {self.server} redirected to {newurl}, another server: not sending your "
                "token there. If that is the grader's real address, give it with --server"
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class Client:
    """The few API calls ``grader submit`` makes, with the token on each (to this server only)."""

    def __init__(self, server: str, token: str) -> None:
        self.server = server.rstrip("/")
        self.token = token
        self._opener = urllib.request.build_opener(_SameServerRedirects(self.server))

    def url(self, path: str) -> str:
        """A path on the server, or a link the server sent; refused if it leads to another server."""
        url = path if urlsplit(path).scheme else f"{self.server}{path}"
        # Checked on the joined address too: a relative "path" such as "@host/x" would move the host.
        if not same_server(self.server, url):
            raise ClientError(
                f"the grader at {self.server} sent a link to {path}, another server: not following it "
                "with your token"
            )
        return url

    def request(
        self, method: str, path: str, body: bytes | None = None, content_type: str | None = None
    ) -> Any:
        url = self.url(path)
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(url, data=body, headers=headers, method=method)
        try:
            with self._opener.open(request, timeout=60) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            raise ClientError(_problem(error)) from None
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise ClientError(
                f"cannot reach the grader at {self.server} ({reason}): check --server"
            ) from None

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def upload(self, assignment_id: int, filename: str, content: bytes) -> dict[str, Any]:
        boundary = uuid.uuid4().hex
        quoted = quote(filename, safe=" ._-()[]+,=@")
        body = b"".join([
            f"--{boundary}\r\n".encode(),
            f'Content-Disposition: form-data; name="file"; filename="{quoted}"\r\n'.encode(),
            b"Content-Type: application/octet-stream\r\n\r\n", content, f"\r\n--{boundary}--\r\n".encode(),
        ])  # fmt: skip
        path = f"/api/v1/assignments/{assignment_id}/submissions"
        result: dict[str, Any] = self.request("POST", path, body, f"multipart/form-data; boundary={boundary}")
        return result


def _problem(error: urllib.error.HTTPError) -> str:
    raw = error.read()
    try:
        body = json.loads(raw)
    except ValueError:
        return f"HTTP {error.code}: {raw[:300].decode('utf-8', 'replace').strip() or error.reason}"
    if isinstance(body, dict) and body.get("detail"):
        return f"{body.get('title') or error.reason} ({error.code}): {body['detail']}"
    return f"HTTP {error.code}: {error.reason}"


def resolve_assignment(client: Client, name: str) -> int:
    """An assignment id, or the id of the one assignment with this slug in the caller's courses."""
    if name.isdigit():
        return int(name)
    found: list[tuple[str, int]] = []
    seen: list[str] = []
    for course in _all(client, "/api/v1/courses"):
        for assignment in _all(client, course["assignments_url"]):
            seen.append(assignment["slug"])
            if assignment["slug"] == name:
                found.append((course["code"], assignment["id"]))
    if not found:
        known = ", ".join(sorted(set(seen))) or "none"
        raise ClientError(
            f"there is no assignment {name!r} in your courses (yours: {known}); give a slug or an id"
        )
    if len(found) > 1:
        where = ", ".join(f"{code} (id {aid})" for code, aid in found)
        raise ClientError(
            f"{name!r} is in several of your courses: {where}; give the assignment's id instead"
        )
    return found[0][1]


def _all(client: Client, path: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    page = 1
    while True:
        body = client.get(f"{path}?page={page}&per_page=100")
        items += body["items"]
        if page >= body["pages"]:
            return items
        page += 1


def _clock(seconds: float) -> str:
    whole = max(0, round(seconds))
    return f"{whole // 60}:{whole % 60:02d}"


def _about(seconds: float) -> str:
    """An estimate as short as a progress line needs: <1 min, ~8 min, ~1 h 10 min (to 5 minutes)."""
    if seconds < 60:
        return "<1 min"
    if seconds < 3570:
        return f"~{round(seconds / 60)} min"
    hours, minutes = divmod(5 * round(seconds / 300), 60)
    return f"~{hours} h" + (f" {minutes} min" if minutes else "")


def progress_line(status: dict[str, Any], elapsed: float) -> str:
    """One line: a bar, the state (and the place in the queue), the run and step, the loss, the time so
    far and the time left."""
    state = status["state"]
    progress = status.get("progress") or {}
    place = status.get("queue") or {}
    fraction = progress.get("fraction") if state == "running" else (1.0 if status.get("final") else 0.0)
    fraction = min(max(float(fraction or 0.0), 0.0), 1.0)
    filled = round(fraction * BAR_WIDTH)
    where = state
    if state in ("received", "queued") and isinstance(place.get("position"), int):
        where = f"{state}: {ordinal(place['position'])}"
        if isinstance(place.get("starts_in_seconds"), (int, float)):
            where += f", starts in {_about(place['starts_in_seconds'])}"
    parts = [f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {fraction * 100:3.0f}%", where]
    if state == "running" and progress:
        if progress.get("runs"):
            parts.append(f"run {progress.get('run') or 1}/{progress['runs']}")
        if progress.get("step") is not None:
            parts.append(f"step {int(progress['step']):,}")
        if isinstance(progress.get("loss"), (int, float)):
            parts.append(f"loss {progress['loss']:.4g}")
    elif state in ("received", "queued") and not place:
        parts.append("waiting for a worker")
    parts.append(f"elapsed {_clock(elapsed)}")
    if state == "running" and isinstance(progress.get("eta_seconds"), (int, float)):
        parts.append(f"ETA {'≤' if progress.get('eta_is_bound') else '~'}{_clock(progress['eta_seconds'])}")
    return "  ".join(parts)


def follow(
    client: Client, url: str, out: TextIO, timeout: float, poll: float = POLL_SECONDS
) -> dict[str, Any]:
    """Poll the submission until it is final, drawing the progress; returns its last status."""
    started = time.monotonic()
    tty = out.isatty()
    last_line, last_print = "", 0.0
    while True:
        status: dict[str, Any] = client.get(url)
        elapsed = time.monotonic() - started
        line = progress_line(status, elapsed)
        if tty:
            out.write("\r" + line[:160].ljust(100))
        elif line.split("elapsed")[0] != last_line.split("elapsed")[0] or elapsed - last_print >= 10:
            out.write(line + "\n")
            last_print = elapsed
        out.flush()
        last_line = line
        if status.get("final"):
            if tty:
                out.write("\n")
            return status
        if elapsed > timeout:
            raise ClientError(
                f"still {status['state']} after {timeout:g} s; follow it at {client.server}{url}"
            )
        time.sleep(poll)


def print_result(result: dict[str, Any], out: TextIO) -> None:
    out.write(f"\n{result['title']}")
    if result.get("score") is not None:
        value = result.get("metric_value")
        metric = (
            f"{result['metric_label']} {value:.4g}"
            if isinstance(value, (int, float))
            else result["metric_label"]
        )
        out.write(f": {result['score']:g}/{result['max_score']:g}  ({metric})")
    out.write("  PASSED\n" if result.get("passed") else "\n")
    if result.get("message"):
        out.write(result["message"] + "\n")
    for d in result.get("diagnoses") or []:
        where = f" ({d['where']})" if d.get("where") else ""
        out.write(f"  {d['severity']}: {d['title']}{where}\n")


def cmd_submit(args: argparse.Namespace) -> int:
    config = ClientConfig.from_env()
    server, token = args.server or config.server, args.token or config.token
    if not server:
        return _fail("give the grader's address with --server URL (or set GRADER_SERVER)")
    if not token:
        return _fail(
            "give an API token with --token (or set GRADER_TOKEN); your instructor makes one with "
            "`grader tokens create --email YOU --scopes read,submit --name laptop`"
        )
    if warning := plain_http_warning(server):
        print(f"grader submit: {warning}", file=sys.stderr)
    path = Path(args.file)
    if not path.is_file():
        return _fail(f"{path} is not a file: give the .py, .ipynb or .zip to submit")
    client = Client(server, token)
    try:
        assignment_id = resolve_assignment(client, args.assignment)
        created = client.upload(assignment_id, path.name, path.read_bytes())
        sys.stderr.write(f"Submitted {path.name} as submission {created['id']}.\n")
        status = follow(client, created["url"], sys.stderr, args.timeout)
        if status["state"] == "error" and status.get("result") is None:
            return _fail(
                f"the grader failed on submission {created['id']} (not counted against you): submit again"
            )
        result = client.get(f"/api/v1/submissions/{created['id']}/result")
    except ClientError as error:
        return _fail(str(error))
    print_result(result, sys.stdout)
    sys.stdout.write(f"Result page: {client.server}/submissions/{created['id']}/result\n")
    return {"scored": 0, "failed": 1}.get(status["state"], 2)


def _fail(message: str) -> int:
    print(f"grader submit: {message}", file=sys.stderr)
    return 2


def cmd_tokens_create(args: argparse.Namespace) -> int:
    from grader.accounts.services import issue_token, user_by_email
    from grader.app import create_app

    scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
    with create_app().app_context():
        user = user_by_email(args.email)
        if user is None:
            print(f"grader tokens: there is no user with the email {args.email!r}", file=sys.stderr)
            return 2
        try:
            token = issue_token(user, args.name, scopes)
        except ValueError as error:
            print(f"grader tokens: {error}", file=sys.stderr)
            return 2
        email = user.email
    print(token)
    print(f"(a token for {email} with {', '.join(scopes)}; it is shown only now)", file=sys.stderr)
    return 0


def add_commands(commands: Any) -> None:
    submit = commands.add_parser("submit", help="submit a file to a grader server and follow its grading")
    submit.add_argument("assignment", help="the assignment's id, or its slug (e.g. paraboloid)")
    submit.add_argument("file", help="a .py, .ipynb or .zip submission")
    submit.add_argument(
        "--server", help="the grader's address, e.g. https://grader.example.edu (or GRADER_SERVER)"
    )
    submit.add_argument("--token", help="an API token with the submit and read scopes (or GRADER_TOKEN)")
    submit.add_argument(
        "--timeout", type=float, default=3600.0, help="give up following after this many seconds"
    )
    submit.set_defaults(handler=cmd_submit)
    tokens = commands.add_parser("tokens", help="API tokens (on the server)")
    actions = tokens.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="make a token; it is printed once, only its SHA-256 is kept")
    create.add_argument("--email", required=True, help="the user the token acts as")
    create.add_argument("--scopes", default="read,submit", help="comma-separated: read, submit, grade, admin")
    create.add_argument("--name", default="cli", help="a name to recognise the token by")
    create.set_defaults(handler=cmd_tokens_create)
