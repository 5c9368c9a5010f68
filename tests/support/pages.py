"""Driving the web pages from a Flask test client: log in through the form, upload through the
upload form, read a page as text."""

from __future__ import annotations

import html
import io
import re
from typing import Any

from grader.accounts.models import User


def csrf_token(page: str) -> str:
    """The CSRF token of a page's forms (every page a logged-in user sees carries one)."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)


def log_in(client: Any, user: User, password: str = "pw") -> str:
    """Log ``user`` in through the login form; returns the new session's CSRF token, for its forms."""
    token = csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"email": user.email, "password": password, "csrf_token": token})
    assert response.status_code == 303, response.get_data(as_text=True)
    # Logging in starts a fresh session, with a token of its own: the login page's no longer counts.
    return csrf_token(client.get("/").get_data(as_text=True))


def log_out(client: Any) -> None:
    """Log out through the menu's form."""
    token = csrf_token(client.get("/").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303


def upload_through_form(client: Any, assignment_id: int, token: str, filename: str, content: bytes) -> Any:
    """Post a file on the assignment page's upload form (``token``: the session's CSRF token); the
    response, a redirect to the status page when accepted."""
    return client.post(
        f"/assignments/{assignment_id}",
        data={"csrf_token": token, "file": (io.BytesIO(content), filename)},
        content_type="multipart/form-data",
    )


def page_text(response: Any, status: int = 200) -> str:
    """The page's HTML, entities decoded (to look for words in it), once its status is ``status``."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:2000])
    return html.unescape(response.get_data(as_text=True))
