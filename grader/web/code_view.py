"""A submission's files as highlighted HTML (Pygments on the server: no script, CSS classes only).

The stored upload is read and unpacked the way the runner does it (never executed);
files are capped so a large zip cannot make a page of megabytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer, TextLexer

from grader.runner.submission import SubmissionRejected, UploadLimits, prepare_submission
from grader.storage import StorageError, current_store
from grader.submissions.models import Submission

MAX_FILES = 20
MAX_FILE_BYTES = 200 * 1024
_formatter = HtmlFormatter(cssclass="code", linenos="table", wrapcode=True)


@dataclass
class CodeFile:
    path: str
    html: Markup | None  # None when the file is binary or too large to show
    size: int
    entry: bool


def submission_code(submission: Submission) -> tuple[list[CodeFile], str]:
    """The submission's files (the entry first), and a note when some could not be shown."""
    try:
        # No more than prepare_submission takes: a page never loads a larger object to refuse it.
        content = current_store().get(submission.file_sha256, UploadLimits().max_upload_bytes)
        prepared = prepare_submission(submission.filename, content)
    except (StorageError, SubmissionRejected) as exc:
        return [], f"The stored upload cannot be shown: {exc}"
    names = sorted(prepared.files, key=lambda name: (name != prepared.entry, name))
    files = []
    for name in names[:MAX_FILES]:
        content = prepared.files[name]
        shown: Markup | None = None
        if len(content) <= MAX_FILE_BYTES:
            try:
                text = content.decode("utf-8")
            except UnicodeDecodeError:
                text = None
            if text is not None:
                lexer = PythonLexer() if name.endswith(".py") else TextLexer()
                shown = Markup(highlight(text, lexer, _formatter))  # Pygments escapes the source
        files.append(CodeFile(name, shown, len(content), name == prepared.entry))
    note = f"{len(names) - MAX_FILES} more files are not shown." if len(names) > MAX_FILES else ""
    if prepared.kind == "notebook":
        note = (note + " The notebook is shown as the script it was graded as.").strip()
    return files, note


def code_css() -> str:
    return str(_formatter.get_style_defs(".code"))
