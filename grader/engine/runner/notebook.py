"""Jupyter notebook (nbformat 4) -> one Python script, on the host, without running anything.

Code cells are kept in order, each preceded by ``# %% cell N``. IPython-only lines
(``%magic``, ``!shell``, ``x?`` help) are replaced by a comment, or by ``pass`` when
indented, so line numbers and blocks survive; ``%%cell`` magics drop their cell.
A line only counts as IPython syntax at the start of a logical line (not inside a
string or brackets, not after a backslash), where Python code can never begin
with ``%``, ``!`` or ``?``.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass

MARK = "dropped by the grader: "
HELP_END = re.compile(r"%{0,2}[A-Za-z_*][\w*]*(?:\.[A-Za-z_*][\w*]*|\[-?\d+\])*(?:\(\))?\?{1,2}")
# Cell magics whose body is ordinary Python that Jupyter runs in the notebook's namespace.
PYTHON_BODY_CELL_MAGICS = {"time", "capture"}
HINTS = {
    "pip": "packages cannot be installed in the grader; it provides torch, numpy and the usual libraries",
    "conda": "packages cannot be installed in the grader; it provides torch, numpy and the usual libraries",
    "run": "IPython magics do not run in the grader; import that file's code instead of using %run",
    "writefile": "the file is not written in the grader; submit a .zip with that file next to the notebook",
}


class NotebookError(ValueError):
    """The notebook cannot be read; the message is meant for the student."""


@dataclass
class _Scan:
    """Where the scanner stands at the start of the next physical line."""

    depth: int = 0
    quote: str | None = None
    backslash: bool = False

    @property
    def at_statement_start(self) -> bool:
        return self.depth == 0 and self.quote is None and not self.backslash


def _scan_line(line: str, state: _Scan) -> None:
    """Advance ``state`` over one physical line of Python (strings, brackets, comments, ``\\``)."""
    i, n = 0, len(line)
    state.backslash = False
    while i < n:
        char = line[i]
        if state.quote is not None:
            if char == "\\":
                i += 2
                continue
            if line.startswith(state.quote, i):
                i += len(state.quote)
                state.quote = None
                continue
            i += 1
            continue
        if char == "#":
            return
        if char in "([{":
            state.depth += 1
        elif char in ")]}":
            state.depth = max(0, state.depth - 1)
        elif char in "\"'":
            state.quote = char * 3 if line.startswith(char * 3, i) else char
            i += len(state.quote)
            continue
        elif char == "\\" and i == n - 1:
            state.backslash = True
        i += 1
    if state.quote is not None and len(state.quote) == 1 and i <= n:
        state.quote = None  # an unterminated '...' string ends with its line (a syntax error)


def _short(text: str, limit: int = 80) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _classify(stripped: str) -> tuple[str, str] | None:
    """(kind, reason) when a logical line is IPython-only, else None."""
    if stripped.startswith("!"):
        return "shell", "shell commands do not run in the grader"
    if stripped.startswith("%"):
        name = stripped.lstrip("%").split(maxsplit=1)[0] if stripped.lstrip("%") else ""
        return name, HINTS.get(name, "IPython magics do not run in the grader")
    code = stripped.split("#", 1)[0].rstrip()
    if code.startswith("?") or HELP_END.fullmatch(code):
        return "help", 'help lines ("x?") do not run in the grader'
    return None


def _replacement(line: str) -> str:
    indent = line[: len(line) - len(line.lstrip())]
    body = line.strip()
    return f"{indent}pass  # {MARK}{body}" if indent else f"# {MARK}{body}"


def convert_cell(source: str, number: int) -> tuple[list[str], list[str]]:
    """One code cell -> (script lines, warnings). ``number`` is 1-based among code cells."""
    lines = source.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    warnings: list[str] = []
    out: list[str] = []
    start = 0
    while True:  # %%time / %%capture: keep the Python body, drop the magic line
        first = next((i for i in range(start, len(lines)) if lines[i].strip()), None)
        if first is None or not lines[first].lstrip().startswith("%%"):
            break
        magic = lines[first].strip()
        name = magic[2:].split(maxsplit=1)[0] if magic[2:].strip() else ""
        if name not in PYTHON_BODY_CELL_MAGICS:
            reason = HINTS.get(name, "cell magics do not run in the grader")
            warnings.append(f'Cell {number}: dropped the whole cell "{_short(magic)}" ({reason})')
            kept = [line for line in lines[first + 1 :] if line.strip()]
            return [*out, *lines[start:first], f"# {MARK}{magic}", *(f"# {line}" for line in kept)], warnings
        warnings.append(
            f'Cell {number}: ran the cell without "{_short(magic)}" (IPython magics do not run in the grader)'
        )
        out.extend([*lines[start:first], f"# {MARK}{magic}"])
        start = first + 1

    state = _Scan()
    continued_magic = False
    for line in lines[start:]:
        if continued_magic:  # an IPython line ending in "\" goes on on the next line
            out.append(f"# {line.strip()}" if line.strip() else line)
            continued_magic = line.rstrip().endswith("\\")
            continue
        stripped = line.strip()
        found = _classify(stripped) if state.at_statement_start and stripped else None
        if found is None:
            out.append(line)
            _scan_line(line, state)
            continue
        kind, reason = found
        if kind == "time" and stripped.startswith("%time ") and stripped[6:].strip():
            indent = line[: len(line) - len(line.lstrip())]
            statement = stripped[6:].strip()
            out.append(indent + statement)
            _scan_line(indent + statement, state)
            warnings.append(f'Cell {number}: ran "{_short(statement)}" without "%time" ({reason})')
            continue
        out.append(_replacement(line))
        warnings.append(f'Cell {number}: dropped "{_short(stripped)}" ({reason})')
        continued_magic = stripped.endswith("\\")
    return out, warnings


def _load(display: str, content: bytes) -> dict[str, object]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NotebookError(
            f"{display} is not UTF-8 text (byte {exc.start} cannot be decoded), so it is not a saved "
            "Jupyter notebook. Save it again from Jupyter (File > Save) and upload that file."
        ) from None
    try:
        notebook = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotebookError(
            f"{display} is not a valid notebook: its JSON is broken at line {exc.lineno}, column "
            f"{exc.colno} ({exc.msg}). It was probably damaged while editing or copying; download it "
            "again from Jupyter (File > Download) or export your code as a .py file and upload that."
        ) from None
    except (ValueError, RecursionError):
        raise NotebookError(
            f"{display} is not a valid notebook: its JSON cannot be read. Download it again from "
            "Jupyter (File > Download) or export your code as a .py file and upload that."
        ) from None
    if not isinstance(notebook, dict) or ("nbformat" not in notebook and "worksheets" not in notebook):
        raise NotebookError(
            f'{display} does not look like a Jupyter notebook (it has no "nbformat" field). '
            "Upload the .ipynb file saved by Jupyter, or your code as a .py file."
        )
    version = notebook.get("nbformat", 3 if "worksheets" in notebook else None)
    if type(version) is not int or version != 4:
        shown = version if type(version) is int else repr(version)
        raise NotebookError(
            f"{display} uses notebook format {shown}, but the grader reads format 4 only. Open it in "
            "a current Jupyter and save it (that converts it to format 4), or export your code as a "
            ".py file (File > Download as > Python) and upload that."
        )
    return notebook


def convert_notebook(display: str, content: bytes) -> tuple[str, list[str]]:
    """Notebook bytes -> (Python script text, warnings). Raises NotebookError."""
    notebook = _load(display, content)
    cells = notebook.get("cells")
    if not isinstance(cells, list):
        raise NotebookError(
            f'{display} has no list of cells (the "cells" field is missing or broken). '
            "Save it again from Jupyter, or export your code as a .py file."
        )
    parts = [f"# Converted by the grader from {display}: code cells only, IPython-only lines dropped.\n"]
    warnings: list[str] = []
    number = 0
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        number += 1
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(piece, str) for piece in source):
            source = "".join(source)
        if not isinstance(source, str):
            raise NotebookError(
                f"{display}: code cell {number} has a broken source field (expected text). "
                "Save the notebook again from Jupyter, or export your code as a .py file."
            )
        lines, notes = convert_cell(source, number)
        warnings.extend(notes)
        parts.append(f"\n# %% cell {number}\n" + "".join(line + "\n" for line in lines))
    if number == 0:
        raise NotebookError(
            f"{display} has no code cells, so there is nothing to run. Upload the notebook that "
            "contains your code."
        )
    return "".join(parts), warnings


def script_name(notebook_name: str) -> str:
    """``My Work.ipynb`` -> ``my_work.py``; ``notebook.py`` when nothing usable is left."""
    stem = notebook_name.rsplit(".", 1)[0] if "." in notebook_name else notebook_name
    stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    stem = re.sub(r"[^a-z0-9]+", "_", stem.lower()).strip("_")
    if not stem or stem[0].isdigit():
        return "notebook.py"
    return stem + ".py"
