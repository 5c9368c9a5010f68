"""A sweep's comparison page: every run side by side, the best configuration marked."""

from __future__ import annotations

import io
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    render_template,
    request,
    send_file,
)
from sqlalchemy import select

from grader.access.browser import current_user, login_required, serve_pages
from grader.access.kit import require_submission, require_sweep
from grader.assignments.models import AssignmentVersion
from grader.extensions import db
from grader.storage import ObjectCorrupt, ObjectMissing, ObjectTooLarge, StorageError, current_store
from grader.submissions.models import Result, Submission
from grader.sweeps import services
from grader.workers.weights import MAX_WEIGHTS_BYTES

from . import events, sweep_events

blueprint = serve_pages(Blueprint("sweeps", __name__))
CURVES = ("loss", "heldout_loss")  # what the overlay can draw
MAX_HAVE = 500  # result ids a poll may name (a sweep has far fewer runs)


def _sweep_or_404(sweep_id: int) -> Any:
    return require_sweep(current_user(), sweep_id)


def _runs_with_weights(sweep_id: int) -> set[int]:
    rows = db.session.scalars(
        select(Result.submission_id)
        .join(Submission, Submission.id == Result.submission_id)
        .where(Submission.sweep_id == sweep_id, Result.weights_sha256.is_not(None))
    )
    return {int(r) for r in rows}


@blueprint.get("/sweeps/<int:sweep_id>")
@login_required
def page(sweep_id: int) -> Any:
    sweep = _sweep_or_404(sweep_id)
    version = db.session.get(AssignmentVersion, sweep.assignment_version_id)
    assert version is not None
    return render_template(
        "web/sweep.html",
        sweep=sweep,
        comparison=services.compare(sweep),
        assignment=version.assignment,
        with_weights=_runs_with_weights(sweep.id),
    )


@blueprint.get("/sweeps/<int:sweep_id>/data.json")
@login_required
def data(sweep_id: int) -> Any:
    """Everything the page's charts draw: points, runs, metrics and the runs' curves.

    ``have``: the result ids whose curves the page already holds (comma-separated), left out.
    """
    sweep = _sweep_or_404(sweep_id)
    have = frozenset(
        int(v)
        for v in request.args.get("have", "").split(",")[:MAX_HAVE]
        if v.isascii() and v.isdigit() and len(v) < 19
    )
    comparison = services.compare(sweep)
    body = {
        "metric": comparison.metric,
        "lower_is_better": comparison.lower_is_better,
        "varying": comparison.settings,
        "log_settings": comparison.log_settings,
        "done": comparison.done,
        "total": comparison.total,
        "points": [
            {
                "index": p.index, "settings": p.settings, "median": p.median, "low": p.low, "high": p.high,
                "best": p.best,
                "runs": [
                    {"submission_id": r.submission_id, "result_id": r.result_id, "seed_index": r.seed_index, "state": r.state,
                     "metric_value": r.metric_value, "score": r.score, "stopped": r.stopped, "steps": r.steps, "best_heldout": r.best_heldout,
                     "restarts": len(r.restarts)}
                    for r in p.runs
                ],
            }
            for p in comparison.points
        ],
        "curves": services.curves(sweep, CURVES, have),
    }  # fmt: skip
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/sweeps/<int:sweep_id>/events")
@login_required
def events_stream(sweep_id: int) -> Response:
    """An event each time one of the sweep's runs changes state: the page then fetches data.json."""
    sweep = _sweep_or_404(sweep_id)
    user = current_user()
    assert user is not None  # login_required
    runs = sweep_events.run_ids(sweep.id)
    return events.held_response(user.id, lambda: sweep_events.stream(sweep.id, runs))


@blueprint.get("/submissions/<int:submission_id>/weights.safetensors")
@login_required
def weights(submission_id: int) -> Any:
    """A sweep run's trained weights, as the harness wrote them: sent as bytes, never loaded here."""
    submission = require_submission(current_user(), submission_id)
    digest = submission.result.weights_sha256 if submission.result is not None else None
    if digest is None:
        abort(
            404,
            f"Submission {submission_id} kept no trained weights: only the runs of a sweep keep theirs, "
            "once they are graded. Run a sweep (the upload form's “Run a sweep”) to get weights to download.",
        )
    store = current_store()
    try:
        # Bytes a sandbox sent: never more than a run may keep, whatever the store holds.
        content = store.get(digest, MAX_WEIGHTS_BYTES)
    except ObjectMissing:
        current_app.logger.error(
            "weights %s of submission %s are missing from %s", digest, submission_id, store.describe()
        )
        abort(
            404,
            f"The trained weights of submission {submission_id} are missing from the grader's storage. "
            "Ask your instructor to regrade the run, which trains and stores them again.",
        )
    except StorageError as exc:
        current_app.logger.error("weights %s of submission %s cannot be read: %s", digest, submission_id, exc)
        damaged = isinstance(exc, (ObjectCorrupt, ObjectTooLarge))  # trying again will not help
        abort(
            500 if damaged else 503,
            f"The trained weights of submission {submission_id} cannot be read from the grader's storage"
            + ("." if damaged else " right now: try again later.")
            + " The administrators can see the problem in the logs.",
        )
    return send_file(
        io.BytesIO(content),
        mimetype="application/octet-stream",
        as_attachment=True,
        download_name=f"submission-{submission_id}.safetensors",
        max_age=0,
    )
