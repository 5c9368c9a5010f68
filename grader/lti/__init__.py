"""LTI 1.3 (LTI Advantage), the tool side: launches from an LMS, deep linking, grade passback (AGS),
roster sync (NRPS), on pylti1p3 (the pylti1p3next fork) with the configuration in the database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI imports this package's commands; only the service needs Flask
    from flask import Flask


def init_app(app: Flask) -> None:
    """Each grade's passback to the LMS gradebooks, and who may frame LTI sessions (create_app calls this)."""
    from grader.access.browser import FRAME_ANCESTORS
    from grader.domain_events import GradeCommitted, listen

    from .passback import on_grade
    from .storage import frame_ancestors

    listen(app, GradeCommitted, on_grade)
    # Sessions launched inside an LMS's frame may be framed by that LMS while it stays enabled.
    app.extensions[FRAME_ANCESTORS] = frame_ancestors
