"""The status page's script, run by Node against a stand-in page: it redraws the place in the queue
from each status it reads (here by polling, as a browser without EventSource does), hides it once
there is none, and opens the result when grading ends. The real browser runs are in
tests/service/test_browser.py."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "grader" / "web" / "static" / "status.js"

# A page of stand-in elements, fetch answering the statuses given in turn, and each poll's timer
# recording what the place reads at that moment.
DRIVER = r"""
const fs = require("fs"), vm = require("vm");
const [scriptPath, statusesJson] = process.argv.slice(1);
const statuses = JSON.parse(statusesJson);
const elements = {};
function element(id) {
  if (!elements[id]) {
    elements[id] = {
      id, textContent: "", hidden: false, value: 0,
      attributes: { "data-json-url": "/status.json", "data-events-url": "/events", "data-result-url": "/result" },
      getAttribute(name) { return this.attributes[name]; },
      removeAttribute() {},
    };
  }
  return elements[id];
}
const seen = [];
let next = 0;
const page = {
  document: { getElementById: element },
  window: { location: { assign(url) { seen.push(["opened", url]); } } },
  fetch: () => Promise.resolve({ ok: true, json: () => Promise.resolve(statuses[next++]) }),
  setTimeout(poll) {
    const place = element("queue-place");
    seen.push([place.textContent, place.hidden]);
    if (next < statuses.length) Promise.resolve().then(poll);
    return 1;
  },
  clearTimeout() {},
};
vm.runInNewContext(fs.readFileSync(scriptPath, "utf8"), page);
setTimeout(() => console.log(JSON.stringify(seen)), 100);
"""


def _status(state: str, summary: str | None, final: bool = False) -> dict[str, object]:
    queue = {"position": 2, "summary": summary} if summary is not None else None
    return {"state": state, "label": state, "final": final, "progress": None, "queue": queue}


def test_the_status_script_redraws_the_place_in_the_queue_from_each_status():
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node is not installed (scripts/setup installs it with the page's npm packages)")
    second = "2nd in the cpu queue · grading starts in about 8 minutes, results in about 15 minutes."
    following = "Next in the cpu queue · grading starts in under a minute, results in about 8 minutes."
    statuses = [
        _status("queued", second),
        _status("queued", following),
        _status("running", "Results in about 7 minutes."),
        _status("running", None),
        _status("scored", None, final=True) | {"result_url": "/submissions/7/result"},
    ]
    shown = subprocess.run(
        [node, "-e", DRIVER, str(SCRIPT), json.dumps(statuses)],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert json.loads(shown) == [
        [second, False],
        [following, False],
        ["Results in about 7 minutes.", False],
        ["", True],
        ["opened", "/submissions/7/result"],
    ]
