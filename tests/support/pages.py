"""Driving the web pages from a Flask test client: log in through the form, read a page as text."""

from __future__ import annotations

import html
import re
from typing import Any

from grader.accounts.models import User


def csrf_token(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)


def log_in(client: Any, user: User, password: str = "pw") -> None:
    token = csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"email": user.email, "password": password, "csrf_token": token})
    assert response.status_code == 303, response.get_data(as_text=True)


def page_text(response: Any) -> str:
    assert response.status_code == 200, response.status_code
    return html.unescape(response.get_data(as_text=True))
