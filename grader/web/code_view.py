"""A submission's files as highlighted HTML (Pygments on the server: no script, CSS classes only).

The stored upload is read and unpacked the way the runner does it (never executed);
files are capped so a large zip cannot make a page of megabytes. An upload is stored by its digest and
never changes, so each web process keeps the highlighted files of the uploads it showed last: at a
deadline, students reload their result pages, and highlighting was a fifth of the web's CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer, TextLexer

from grader.engine.runner.submission import SubmissionRejected, UploadLimits, prepare_submission
from grader.storage import StorageError, current_store
from grader.submissions.models import Submission

from .kept import Kept, kept

MAX_FILES = 20
MAX_FILE_BYTES = 200 * 1024
CACHE_BYTES = 16 * 2**20  # of highlighted HTML per web process
_formatter = HtmlFormatter(cssclass="code", linenos="table", wrapcode=True)


@dataclass(frozen=True)
class CodeFile:
    path: str
    html: Markup | None  # None when the file is binary or too large to show
    size: int
    entry: bool


Shown = tuple[tuple[CodeFile, ...], str]


def _size(shown: Shown) -> int:
    return sum(len(f.html or "") + len(f.path) for f in shown[0]) + len(shown[1])


def _shown_code() -> Kept[tuple[str, str], Shown]:
    return kept("code_view", lambda: Kept(CACHE_BYTES, _size))


def submission_code(submission: Submission) -> tuple[list[CodeFile], str]:
    """The submission's files (the entry first), and a note when some could not be shown."""
    key = (submission.file_sha256, submission.filename)
    held = _shown_code().get(key)
    if held is None:
        try:
            # No more than prepare_submission takes: a page never loads a larger object to refuse it.
            content = current_store().get(submission.file_sha256, UploadLimits().max_upload_bytes)
        except StorageError as exc:  # not kept: the next view tries again
            return [], f"The stored upload cannot be shown: {exc}"
        files, note = _highlight(submission.filename, content)
        held = (tuple(files), note)
        _shown_code().put(key, held)
    return list(held[0]), held[1]


def _highlight(filename: str, upload: bytes) -> tuple[list[CodeFile], str]:
    try:
        prepared = prepare_submission(filename, upload)
    except SubmissionRejected as exc:
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
