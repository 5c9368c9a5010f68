"""The pages in a real browser: headless Chromium (Debian's) driven by Playwright, against a real
threaded server, a real Celery worker process and PostgreSQL + Redis.

A student logs in, drops a wrong file and then the real one on the upload form, watches the live
status page, and lands on the result with its uPlot loss curve drawn. An instructor sorts the
scoreboard, opens the submission and regrades it. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from support.assignments import FIXED_SCRIPT
from support.browsing import ARTIFACTS, INKED_IN, watched_page
from support.stack import Stack, postgres_stack

from grader.accounts.models import Role
from grader.accounts.services import create_user
from grader.courses.models import Course, Enrollment
from grader.engine.spec import BUILTIN
from grader.extensions import db

pytestmark = [pytest.mark.slow, pytest.mark.long]
expect = pytest.importorskip("playwright.sync_api").expect


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with postgres_stack(tmp_path_factory.mktemp("web"), redis_db=12, lease_seconds=10) as stack:
        yield stack


DROP = """([name, text]) => {
  const transfer = new DataTransfer();
  transfer.items.add(new File([text], name, { type: "text/plain" }));
  const zone = document.getElementById("dropzone");
  for (const type of ["dragenter", "dragover", "drop"]) {
    zone.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, bubbles: true, cancelable: true }));
  }
}"""


def test_a_student_submits_and_follows_the_grading_in_a_browser(stack, base_url, browser):  # type: ignore[no-untyped-def]
    stack.start_worker()
    context, page, errors = watched_page(browser, 1100, 900)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    try:
        page.goto(base_url + "/")
        assert "/login" in page.url
        page.get_by_label("Email").fill("e2e@example.edu")
        page.get_by_label("Password").fill("pw")
        page.get_by_role("button", name="Log in").click()
        page.screenshot(path=str(ARTIFACTS / "home.png"))
        page.get_by_role("link", name=re.compile("paraboloid")).click()
        assert page.get_by_text("0 of 50").count() == 1
        assert page.locator(".description math").count() >= 1  # the formula, as MathML

        # Drag and drop: a wrong kind of file is caught before upload; the real script goes through.
        page.evaluate(DROP, ["weights.pt", "binary"])
        assert "not a .py, .ipynb or .zip file" in page.inner_text("#file-check")
        page.screenshot(path=str(ARTIFACTS / "assignment.png"), full_page=True)
        page.evaluate(DROP, ["paraboloid_fixed.py", FIXED_SCRIPT.read_text()])
        assert page.inner_text("#file-check") == ""
        assert "paraboloid_fixed.py" in page.inner_text("#file-help")
        page.get_by_role("button", name="Submit for grading").click()
        page.wait_for_url(re.compile(r"/submissions/\d+$"))

        # The status page follows the run without reloading.
        states: list[str] = []
        steps: list[str] = []
        etas: list[str] = []
        bars: list[float] = []
        shot = b""
        deadline = time.monotonic() + 240
        while "/result" not in page.url and time.monotonic() < deadline:
            try:
                states.append(page.inner_text("#state", timeout=1000))
                steps.append(page.inner_text("#step", timeout=1000))
                etas.append(page.inner_text("#eta", timeout=1000))
                bars.append(page.evaluate("document.getElementById('bar').value"))
                if steps[-1] not in ("—", "0") and not shot:
                    shot = page.screenshot(path=str(ARTIFACTS / "status.png"))
            except Exception:  # noqa: BLE001 - the page navigated to the result meanwhile
                pass
            time.sleep(0.2)
        assert "/result" in page.url, (states[-5:], stack.workdir)
        assert "Training" in states, states
        assert any(step not in ("—", "0") for step in steps), steps  # progress arrived live
        assert any(re.fullmatch(r"(at most|about) \d+ s", eta) for eta in etas), etas  # time left
        assert max(bars) > 0, bars  # the bar moved
        assert any("/events" in url for url in requested), requested
        assert not any("status.json" in url for url in requested)  # SSE worked: no fallback needed

        # The result: verdict and score, and the loss curve drawn by uPlot.
        page.wait_for_selector(".uplot canvas")
        assert page.inner_text("#verdict") == "Scored"
        assert "100" in page.inner_text(".score")
        assert page.evaluate(INKED_IN, ".uplot") > 500
        # Every chart: the loss with the held-out metric, the learning rate, each layer's gradient norm...
        charts = page.eval_on_selector_all("#series option", "options => options.map(o => o.value)")
        assert charts[:3] == ["loss", "lr", "grad_norm"], charts
        for chart in charts:
            page.select_option("#series", chart)
            page.wait_for_selector(".uplot canvas")
            assert page.evaluate(INKED_IN, ".uplot") > 300, chart
        page.select_option("#series", "grad_norm")
        legend = page.inner_text(".u-legend")
        assert "grad_norm/linear_1" in legend and "grad_norm/linear_3" in legend  # overlaid, one per layer
        page.select_option("#series", "loss")
        assert "heldout/mse" in page.inner_text(".u-legend")
        log_box = page.get_by_role("checkbox", name="Logarithmic scale")
        log_box.click()
        page.wait_for_selector(".uplot canvas")
        log_box.click()
        assert page.evaluate(INKED_IN, ".uplot") > 500

        # The fit over the square: a heat map of the error, then the prediction and the truth.
        page.wait_for_selector("#fit-chart canvas")
        assert page.evaluate(INKED_IN, "#fit-chart") > 20_000  # cells cover the plotting area
        assert "root-mean-square error" in page.inner_text("#fit-caption")
        assert page.locator("#fit-legend .ramp").count() == 1
        page.locator("#fit-chart").scroll_into_view_if_needed()
        box = page.locator("#fit-chart .u-over").bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
        page.mouse.move(box["x"] + box["width"] * 0.9, box["y"] + box["height"] * 0.1, steps=3)
        page.screenshot(path=str(ARTIFACTS / "result-fit.png"))
        assert re.match(r"x = 0\.9\d*, y = 0\.9\d*: error", page.inner_text("#fit-readout"))
        for layer in ("prediction", "truth"):
            page.select_option("#fit-layer", layer)
            page.wait_for_selector("#fit-chart canvas")
            assert page.evaluate(INKED_IN, "#fit-chart") > 20_000, layer
        page.screenshot(path=str(ARTIFACTS / "result.png"), full_page=True)

        # On a phone: nothing wider than the screen.
        page.set_viewport_size({"width": 390, "height": 844})
        page.wait_for_timeout(300)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        page.screenshot(path=str(ARTIFACTS / "result-phone.png"), full_page=True)
        assert not errors, errors
    finally:
        context.close()


def _logged_in(browser, base_url: str, email: str):  # type: ignore[no-untyped-def]
    """A new browser context logged in as ``email``, collecting the page's errors and console errors."""
    context, page, errors = watched_page(browser, 1000, 800)
    page.goto(base_url + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("pw")
    page.get_by_role("button", name="Log in").click()
    return context, page, errors


def _result_with_fit(stack: Stack, slug: str, predict) -> int:  # type: ignore[no-untyped-def]
    """A scored submission of the E2E student on ``slug`` whose fit view is ``predict`` on its grid."""
    from grader.assignments.services import publish
    from grader.engine.datasets import public_files
    from grader.engine.grid import domain_grid, fit_view
    from grader.engine.spec import find
    from grader.submissions.models import Result, ResultFit, State, StoredFile, Submission

    with stack.app.app_context():
        course = db.session.scalar(select(Course).where(Course.code == "E2E-1"))
        student = db.session.scalar(
            select(Enrollment.user_id).where(
                Enrollment.course_id == course.id, Enrollment.role == Role.STUDENT
            )
        )
        assignment = publish(course, slug)
        spec = find(slug)
        public = public_files(spec)
        grid = domain_grid(spec, public["x_val"])
        assert grid is not None
        if db.session.get(StoredFile, "2" * 64) is None:
            db.session.add(StoredFile(sha256="2" * 64, size=1))
        submission = Submission(
            user_id=student, assignment_version_id=assignment.current.id, filename="fit.py",
            file_sha256="2" * 64, kind="script", state=State.SCORED,
        )  # fmt: skip
        submission.result = Result(
            attempt_number=1, verdict="scored", metric_name=spec.metric, metric_value=0.9, score=90.0,
            max_score=100.0, seed=1,
        )  # fmt: skip
        view = fit_view(spec, grid, predict(grid.inputs.astype(float)), (public["x_val"], public["y_val"]))
        submission.result.fit = ResultFit(payload=view)
        db.session.add(submission)
        db.session.commit()
        return submission.id


def test_fits_of_one_input_and_decision_regions_are_drawn(stack, base_url, browser):  # type: ignore[no-untyped-def]
    line = _result_with_fit(stack, "linear", lambda x: 2.1 * x[:, 0] + 0.8)
    regions = _result_with_fit(stack, "xor", lambda x: ((x[:, 0] > 0.5) ^ (x[:, 1] > 0.5)).astype(float))
    context, page, errors = _logged_in(browser, base_url, "e2e@example.edu")
    try:
        page.goto(f"{base_url}/submissions/{line}/result")
        page.wait_for_selector("#fit-chart canvas")
        assert page.evaluate(INKED_IN, "#fit-chart") > 1_000
        legend = page.inner_text("#fit-chart .u-legend")
        assert "truth: y" in legend and "your model" in legend
        assert "root-mean-square error" in page.inner_text("#fit-caption")
        page.locator("#fit-heading").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "fit-line.png"))

        page.goto(f"{base_url}/submissions/{regions}/result")
        page.wait_for_selector("#fit-chart canvas")
        assert page.inner_text("#fit-heading") == "Decision regions"
        assert page.evaluate(INKED_IN, "#fit-chart") > 20_000
        assert page.locator("#fit-legend .swatch").count() == 2
        assert "class 0: 50%, class 1: 50%" in page.inner_text("#fit-caption")
        page.locator("#fit-heading").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "fit-regions.png"))
        assert not errors, errors
    finally:
        context.close()


def test_without_event_source_the_status_page_polls(stack, base_url, browser):  # type: ignore[no-untyped-def]
    if not any(worker.poll() is None for worker in stack.workers):
        stack.start_worker()
    context = browser.new_context()
    context.add_init_script("delete window.EventSource;")
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    try:
        page.goto(base_url + "/login")
        page.get_by_label("Email").fill("e2e@example.edu")
        page.get_by_label("Password").fill("pw")
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("link", name=re.compile("paraboloid")).click()
        page.get_by_label(re.compile("Your code")).set_input_files(str(FIXED_SCRIPT))
        page.get_by_role("button", name="Submit for grading").click()
        page.wait_for_url(re.compile(r"/submissions/\d+$"))
        page.wait_for_url(re.compile(r"/submissions/\d+/result$"), timeout=240_000)
        assert page.inner_text("#verdict") == "Scored"
        polls = [url for url in requested if url.endswith("/status.json")]
        assert polls and not any(url.endswith("/events") for url in requested), requested

        # Two graded submissions now: tick both on the assignment page and overlay their curves.
        page.get_by_role("link", name=re.compile("paraboloid")).first.click()
        boxes = page.get_by_role("checkbox", name=re.compile("Compare submission"))
        assert boxes.count() >= 2
        boxes.nth(0).check()
        boxes.nth(1).check()
        page.get_by_role("button", name=re.compile("Compare")).click()
        page.wait_for_selector(".uplot canvas")
        assert page.evaluate(INKED_IN, ".uplot") > 300
        assert page.inner_text(".u-legend").count(" loss") >= 2
        page.screenshot(path=str(ARTIFACTS / "compare.png"), full_page=True)
    finally:
        context.close()


def test_an_instructor_sorts_the_scoreboard(stack, base_url, browser):  # type: ignore[no-untyped-def]
    with stack.app.app_context():
        course = db.session.scalar(select(Course).where(Course.code == "E2E-1"))
        teacher = create_user("teacher@example.edu", "Grace Teacher", Role.INSTRUCTOR, "pw")
        idle = create_user("idle@example.edu", "Idle Student", Role.STUDENT, "pw")
        db.session.add(Enrollment(course_id=course.id, user_id=teacher.id, role=Role.INSTRUCTOR))
        db.session.add(Enrollment(course_id=course.id, user_id=idle.id, role=Role.STUDENT))
        db.session.commit()
    context, page, errors = watched_page(browser, 1000, 700)
    try:
        page.goto(base_url + "/login")
        page.get_by_label("Email").fill("teacher@example.edu")
        page.get_by_label("Password").fill("pw")
        page.get_by_label("Password").press("Enter")  # the keyboard submits the form
        page.locator(".card", has_text="paraboloid").get_by_role("link", name="Scoreboard").click()
        names = "() => [...document.querySelectorAll('#scoreboard tbody tr')].map(r => r.cells[0].innerText.split('\\n')[0])"
        assert page.evaluate(names) == ["E2E Student", "Idle Student"]
        attempts = page.get_by_role("link", name="Attempts")
        attempts.focus()
        page.keyboard.press("Enter")  # sorting is a link: the keyboard follows it, no script needed
        page.wait_for_url("**sort=attempts**")
        assert page.evaluate(names) == ["Idle Student", "E2E Student"]  # 0 attempts, then 1
        assert page.get_attribute("th:has(a:text('Attempts'))", "aria-sort") == "ascending"
        page.get_by_role("link", name="Student", exact=True).click()
        page.wait_for_url("**sort=student&order=asc**")
        assert page.evaluate(names) == ["E2E Student", "Idle Student"]
        page.get_by_role("link", name="Student", exact=True).click()
        page.wait_for_url("**sort=student&order=desc**")
        assert page.evaluate(names) == ["Idle Student", "E2E Student"]  # a second press reverses

        page.screenshot(path=str(ARTIFACTS / "scoreboard.png"), full_page=True)

        # The class at a glance: the histogram of best scores and the median loss curve, drawn.
        page.get_by_role("link", name="Class analytics").click()
        page.wait_for_selector("#median-curve canvas")
        inked = "(id) => { const c = document.querySelector(id + ' canvas'); const d = c.getContext('2d')"
        inked += (
            ".getImageData(0, 0, c.width, c.height).data; let n = 0; for (let i = 3; i < d.length; i += 4)"
        )
        inked += " if (d[i] > 0) n++; return n; }"
        assert page.evaluate(inked, "#histogram") > 300 and page.evaluate(inked, "#median-curve") > 300
        page.screenshot(path=str(ARTIFACTS / "analytics.png"), full_page=True)
        page.go_back()

        # Open the student's best submission and regrade it: it is trained and scored again.
        if not any(worker.poll() is None for worker in stack.workers):
            stack.start_worker()
        page.locator("#scoreboard tbody tr", has_text="E2E Student").locator("a[href$='/result']").click()
        page.wait_for_url(re.compile(r"/submissions/\d+/result$"))
        page.get_by_role("button", name="Regrade").click()
        page.wait_for_url(re.compile(r"/submissions/\d+$"))
        page.wait_for_url(re.compile(r"/submissions/\d+/result$"), timeout=240_000)
        assert page.inner_text("#verdict") == "Scored"
        page.screenshot(path=str(ARTIFACTS / "regraded.png"), full_page=True)

        # Regrade the whole assignment and follow the batch on its progress page, without reloading.
        page.get_by_role("link", name="Learn the paraboloid", exact=False).first.click()
        page.get_by_role("link", name="Scoreboard").click()
        page.get_by_role("link", name=re.compile("Regrade all submissions")).click()
        page.get_by_role("button", name=re.compile(r"Regrade all \d+ submissions")).click()
        page.wait_for_url(re.compile(r"/regrades/\d+$"))
        total = int(page.inner_text("#regrade-total"))
        assert total >= 2
        expect(page.locator("#regrade-state")).to_have_text(re.compile("^Finished"), timeout=240_000)
        assert page.inner_text("#regrade-done") == str(total) and page.inner_text("#regrade-failed") == "0"
        assert page.evaluate("document.getElementById('regrade-bar').value") == total
        page.screenshot(path=str(ARTIFACTS / "regrade-all.png"), full_page=True)
        assert not errors, errors
    finally:
        context.close()


def test_an_instructor_uploads_checks_and_publishes_an_assignment(stack, base_url, browser, tmp_path):  # type: ignore[no-untyped-def]
    import zipfile

    folder = BUILTIN / "linear"
    archive = tmp_path / "linear-uploaded.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                data = path.read_bytes()
                if path.name == "assignment.toml":
                    data = data.replace(b'slug = "linear"', b'slug = "linear-uploaded"')
                zipped.writestr(f"linear-uploaded/{path.relative_to(folder)}", data)
    if not any(worker.poll() is None for worker in stack.workers):
        stack.start_worker()
    context, page, errors = _logged_in(browser, base_url, "teacher@example.edu")
    try:
        page.get_by_role("link", name=re.compile("E2E-1|End to end")).first.click()
        page.get_by_role("link", name=re.compile("Upload a new assignment")).click()
        page.get_by_label("The assignment folder, as a .zip").set_input_files(str(archive))
        page.get_by_role("button", name="Upload and preview").click()
        page.wait_for_url(re.compile(r"/drafts/\d+$"))
        assert page.locator("#description math").count() >= 1  # the maths as students will see it
        assert page.locator("#solutions tbody tr").count() == 3
        page.screenshot(path=str(ARTIFACTS / "draft-preview.png"), full_page=True)

        page.get_by_role("button", name="Run the check").click()
        expect(page.locator("#check-state")).to_have_text(re.compile("^Checked"), timeout=240_000)
        assert page.locator("#check-results tbody tr").count() == 3
        assert "every solution as declared" in page.inner_text("#check")
        page.screenshot(path=str(ARTIFACTS / "draft-checked.png"), full_page=True)

        page.get_by_role("button", name="Publish").click()
        assert "Published" in page.inner_text("#published")
        assert not errors, errors
    finally:
        context.close()
