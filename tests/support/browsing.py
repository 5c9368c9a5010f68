"""What the browser tests share: the app on a real threaded server, and Debian's Chromium via Playwright.

The ``base_url`` and ``browser`` fixtures (tests/service/conftest.py) use these; a browser test
module brings its own ``stack`` fixture (a stack with the app and worker processes it needs).
``INKED_IN`` tells whether a chart was really drawn.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

CHROMIUM = "/usr/bin/chromium"
# Screenshots of the main pages, kept as the run's artifacts (git ignores the folder).
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARTIFACTS.mkdir(exist_ok=True)
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# A script for page.evaluate(INKED_IN, selector): how many pixels of the canvas inside ``selector``
# are drawn on. A chart whose data or script failed leaves its canvas blank, or nearly.
INKED_IN = """(selector) => {
  const canvas = document.querySelector(selector + " canvas");
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let inked = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) inked++;
  return inked;
}"""


@contextlib.contextmanager
def served(app: Flask) -> Iterator[str]:
    """The app on a real threaded werkzeug server, on a free port of 127.0.0.1; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="web-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@contextlib.contextmanager
def chromium(extra_args: tuple[str, ...] = ()) -> Iterator[object]:
    """A headless Chromium (skips the test where Debian's is not installed), with ``extra_args``."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: scripts/setup installs Debian's chromium when run as root")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[*ARGS, *extra_args])
        try:
            yield browser
        finally:
            browser.close()


def watched_page(browser, width: int, height: int) -> tuple[object, object, list[str]]:  # type: ignore[no-untyped-def]
    """A new context and page of ``width`` x ``height``, and the list its script errors and console
    errors go to (each browser test ends asserting it is empty)."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return context, page, errors
