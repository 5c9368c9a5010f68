"""`grader submit` sends its token to the grader's own server only, and warns on plain http: two
throwaway HTTP servers on 127.0.0.1 (the second reached as "localhost", another host by name)."""

from __future__ import annotations

import argparse
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from grader.cli_client import Client, ClientError, cmd_submit, plain_http_warning, same_server


class Recorder(BaseHTTPRequestHandler):
    """Answers GET: /go-to?<url> redirects there; anything else is JSON saying what arrived."""

    seen: list[tuple[str, str | None]]  # (path, Authorization) per request, set per server

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Authorization")))
        if self.path.startswith("/go-to?"):
            self.send_response(302)
            self.send_header("Location", self.path.partition("?")[2])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = json.dumps({"path": self.path, "authorization": self.headers.get("Authorization")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def servers() -> Iterator[tuple[str, str, list[tuple[str, str | None]]]]:
    """The grader (http://127.0.0.1:P), another server (http://localhost:Q) and what it received."""
    started = []
    for _ in range(2):
        handler = type("Handler", (Recorder,), {"seen": []})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append((server, handler))
    (grader, _), (other, other_handler) = started
    try:
        yield (
            f"http://127.0.0.1:{grader.server_port}",
            f"http://localhost:{other.server_port}",
            other_handler.seen,
        )
    finally:
        for server, _ in started:
            server.shutdown()
            server.server_close()


def test_redirects_stay_on_the_graders_server(servers) -> None:  # type: ignore[no-untyped-def]
    grader, other, other_saw = servers
    client = Client(grader, "grd_secret")
    moved = client.get("/go-to?/api/v1/courses")  # same server: followed, token and all
    assert moved == {"path": "/api/v1/courses", "authorization": "Bearer grd_secret"}
    with pytest.raises(ClientError, match="another server: not sending your token"):
        client.get(f"/go-to?{other}/api/v1/courses")
    assert other_saw == []  # not even asked, with or without the token


def test_links_to_another_server_are_not_followed(servers) -> None:  # type: ignore[no-untyped-def]
    grader, other, other_saw = servers
    client = Client(grader, "grd_secret")
    assert client.get(f"{grader}/api/v1/submissions/1")["path"] == "/api/v1/submissions/1"
    port = other.rpartition(":")[2]
    for link in (f"{other}/api/v1/submissions/1", f"@localhost:{port}/api/v1/submissions/1"):
        with pytest.raises(ClientError, match="another server"):
            client.get(link)
    assert other_saw == []


def test_same_server() -> None:
    server = "http://grader.example.edu"
    assert same_server(server, "http://grader.example.edu:80/api/v1/x")
    assert same_server(server, "https://GRADER.example.edu/api/v1/x")  # an upgrade to https
    assert not same_server("https://grader.example.edu", "http://grader.example.edu/x")  # a downgrade
    assert not same_server(server, "http://grader.example.edu:8080/x")
    assert not same_server(server, "http://grader.example.edu.evil.example/x")
    assert not same_server(server, "http://grader.example.edu@evil.example/x")
    assert not same_server(server, "/relative")


def test_plain_http_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for safe in ("https://grader.example.edu", "http://127.0.0.1:5000", "http://localhost:5000",
                 "http://[::1]:5000", "http://127.0.0.2"):  # fmt: skip
        assert plain_http_warning(safe) is None, safe
    assert "plain http" in (plain_http_warning("http://grader.example.edu") or "")
    assert "plain http" in (plain_http_warning("HTTP://10.0.0.5:5000") or "")

    # Printed before anything is sent (here nothing is: the file does not exist).
    args = argparse.Namespace(
        assignment="paraboloid", file=str(tmp_path / "missing.py"), server="http://grader.example.edu",
        token="grd_x", timeout=1.0,
    )  # fmt: skip
    assert cmd_submit(args) == 2
    err = capsys.readouterr().err
    assert "warning: http://grader.example.edu is plain http" in err and "https://" in err
    assert "missing.py is not a file" in err
