"""A result as a file for another system: Gradescope's results.json, as a download (the API returns the
same body as JSON; the gradebook CSVs are in grader/gradebooks/gradebook.py)."""

from __future__ import annotations

import json

from flask import Response

from grader.gradebooks.gradescope import gradescope_results
from grader.submissions.models import Submission


def gradescope_file(submission: Submission) -> Response:
    """A graded submission's Gradescope results.json, as a download."""
    body = gradescope_results(submission).model_dump(mode="json")
    return Response(
        json.dumps(body, indent=2, allow_nan=False),
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="results-{submission.id}.json"'},
    )
