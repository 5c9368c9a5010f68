"""Turns what a student uploaded into the files a sandbox gets, on the host, without running it.

``prepare_submission`` accepts one ``.py`` file, one Jupyter notebook (converted to a
script) or a ``.zip`` of a project (read in memory by ``ziparchive``). Nothing from the
upload is executed or imported: only ``ast.parse`` and JSON parsing look at it.
Every refusal is a ``SubmissionRejected`` whose message is shown to the student as is.
"""

from __future__ import annotations

import ast
import keyword
import re
import sys
import tomllib
from dataclasses import dataclass

from grader.engine.runner.notebook import NotebookError, convert_notebook, script_name
from grader.engine.runner.ziparchive import ArchiveError, display_name, read_archive

ACCEPTED = "the grader accepts .py, .ipynb or .zip files"
MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Names the sandbox imports itself: a student file with one of them would shadow the real module.
SHADOWED = frozenset(sys.stdlib_module_names) | {
    "__main__", "torch", "torchvision", "numpy", "scipy", "sklearn", "pandas", "matplotlib",
    "safetensors", "gradekit", "grader",
}  # fmt: skip
ENTRY_NAMES = ("solution.py", "main.py", "train.py")
ARCHIVE_SUFFIXES = (".rar", ".7z", ".tar", ".gz", ".tgz", ".bz2", ".xz")
WEIGHT_SUFFIXES = (".pt", ".pth", ".ckpt", ".safetensors", ".onnx", ".h5", ".pkl", ".bin")
DECLARE = 'a file grader.toml at the top of the zip containing the line: entry = "your_file.py"'


class SubmissionRejected(ValueError):
    """Raised with a message that names what was wrong and how to fix it (shown to the student as is)."""


@dataclass(frozen=True)
class UploadLimits:
    max_upload_bytes: int = 5 * 1024 * 1024
    max_files: int = 200
    max_total_bytes: int = 20 * 1024 * 1024  # uncompressed, whole zip
    max_file_bytes: int = 10 * 1024 * 1024
    max_ratio: float = 100.0  # uncompressed/compressed per member and overall
    max_depth: int = 10


@dataclass
class PreparedSubmission:
    files: dict[str, bytes]  # relative POSIX path -> content (no leading '/', no '..')
    entry: str  # relative path of the file to run
    mode: str  # "script" or "module"
    warnings: list[str]  # human-readable notes (e.g. dropped notebook magics)
    kind: str  # "python", "notebook" or "zip"


def importable(stem: str) -> bool:
    """Whether ``stem`` works as the module name of a student file (module mode imports it)."""
    return bool(MODULE_NAME.fullmatch(stem)) and not keyword.iskeyword(stem) and stem not in SHADOWED


def _is_main_guard(node: ast.AST) -> bool:
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    sides = [node.test.left, *node.test.comparators]
    return any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides) and any(
        isinstance(s, ast.Constant) and s.value == "__main__" for s in sides
    )


def detect_mode(source: str, filename: str) -> tuple[str, str | None]:
    """("module" or "script", an optional note). Module mode: the top level defines build_model."""
    if "build_model" not in source:
        return "script", None
    try:
        tree = ast.parse(source.removeprefix("\ufeff"), filename)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return "script", None  # the sandbox reports syntax errors with file and line
    defines = calls = False
    stack: list[ast.AST] = list(tree.body)
    while stack:  # top-level code only: not function or class bodies, not the __main__ guard
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            defines = defines or node.name == "build_model"
            continue
        if isinstance(node, ast.ClassDef | ast.Lambda) or _is_main_guard(node):
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            defines = defines or any((a.asname or a.name) == "build_model" for a in node.names)
        elif isinstance(node, ast.Name) and node.id == "build_model" and isinstance(node.ctx, ast.Store):
            defines = True
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "build_model":
            calls = True
        stack.extend(ast.iter_child_nodes(node))
    if defines and calls:
        return "script", (
            f"{filename} defines build_model() but also calls it at the top level, so it runs as a "
            "script, top to bottom. To have the grader call build_model() itself (module mode), move "
            'that top-level code under if __name__ == "__main__":'
        )
    return ("module" if defines else "script"), None


def _decode_python(shown: str, content: bytes) -> str:
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = content.count(b"\n", 0, exc.start) + 1
        raise SubmissionRejected(
            f"{shown} is not UTF-8 text: the byte 0x{content[exc.start]:02x} at offset {exc.start} "
            f"(line {line}) is not valid UTF-8. Save the file with UTF-8 encoding (in most editors: "
            "Save with Encoding > UTF-8) and upload it again."
        ) from None


def _wrong_type(shown: str, name: str) -> str:
    lower = name.lower()
    inner = lower.rsplit(".", 1)[0]
    if "." not in name:
        hint = "if it is a Python script, rename it so that it ends in .py"
    elif inner.endswith((".py", ".ipynb", ".zip")):
        hint = f"your system added an extra extension: rename it to {name.rsplit('.', 1)[0]}"
    elif lower.endswith(".txt"):
        hint = "rename your script to .py"
    elif lower.endswith(ARCHIVE_SUFFIXES):
        hint = "pack your project folder as a .zip instead"
    elif lower.endswith(WEIGHT_SUFFIXES):
        hint = "upload the code that trains your model, not saved weights: the grader trains it itself"
    else:
        hint = "upload your Python script (.py), your notebook (.ipynb) or a .zip of your project folder"
    return f"{shown}: {ACCEPTED}; {hint}."


def _check_upload(shown: str, name: str, content: bytes, limits: UploadLimits) -> str:
    """The upload's kind ("python", "notebook", "zip"), or SubmissionRejected."""
    kind = {".py": "python", ".ipynb": "notebook", ".zip": "zip"}.get(
        "." + name.lower().rsplit(".", 1)[-1] if "." in name else ""
    )
    if kind is None:
        raise SubmissionRejected(_wrong_type(shown, name))
    if not content:
        raise SubmissionRejected(f"{shown} is empty (0 bytes). Upload the file that contains your code.")
    if len(content) > limits.max_upload_bytes:
        fix = {
            "python": "A script this large probably embeds data: leave it out, the grader provides the data.",
            "notebook": "Clear the notebook's outputs (Edit > Clear All Outputs), save it and upload it again.",
            "zip": "Leave out data sets, model checkpoints, virtual environments and .git folders.",
        }[kind]
        raise SubmissionRejected(
            f"{shown} is {len(content) / 2**20:.1f} MB, over the upload limit of "
            f"{limits.max_upload_bytes / 2**20:.1f} MB. {fix}"
        )
    return kind


def _prepare_python(name: str, shown: str, content: bytes) -> PreparedSubmission:
    source = _decode_python(shown, content)
    stem = name[:-3]
    target = stem + ".py"
    warnings: list[str] = []
    if not importable(stem):
        target = "submission.py"
        why = (
            f'"{stem}" is the name of a module the grader uses'
            if stem in SHADOWED
            else "a Python file name uses only letters, digits and _, and does not start with a digit"
        )
        warnings.append(
            f"{shown} was saved as submission.py ({why}); error messages will refer to submission.py."
        )
    mode, note = detect_mode(source, target)
    warnings.extend([note] if note else [])
    return PreparedSubmission({target: content}, target, mode, warnings, "python")


def _prepare_notebook(name: str, shown: str, content: bytes) -> PreparedSubmission:
    try:
        script, warnings = convert_notebook(shown, content)
    except NotebookError as exc:
        raise SubmissionRejected(str(exc)) from None
    target = script_name(name)
    if not importable(target[:-3]):
        target = "notebook.py"
    mode, note = detect_mode(script, target)
    warnings.extend([note] if note else [])
    return PreparedSubmission({target: script.encode("utf-8")}, target, mode, warnings, "notebook")


def _folder_join(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name


def _free_name(folder: str, stem: str, taken: dict[str, bytes]) -> str:
    candidates = [stem] if importable(stem) else []
    candidates += [f"{stem}_notebook", *(f"{stem}_notebook{i}" for i in range(2, len(taken) + 3))]
    return next(path for c in candidates if (path := folder + c + ".py") not in taken)


def _convert_zip_members(
    shown: str, unpacked: dict[str, bytes]
) -> tuple[dict[str, bytes], dict[str, str], list[str]]:
    """(files with notebooks turned into scripts, notebook path -> script path, warnings)."""
    files = {path: data for path, data in unpacked.items() if not path.lower().endswith(".ipynb")}
    converted: dict[str, str] = {}
    warnings: list[str] = []
    for path, data in unpacked.items():
        if path.lower().endswith(".py"):
            _decode_python(f"{shown}: {display_name(path)}", data)
        if not path.lower().endswith(".ipynb"):
            continue
        try:
            script, notes = convert_notebook(display_name(path), data)
        except NotebookError as exc:
            raise SubmissionRejected(f"{shown}: {exc}") from None
        folder, _, base = path.rpartition("/")
        target = _free_name(folder + "/" if folder else "", script_name(base)[:-3], files)
        files[target] = script.encode("utf-8")
        converted[path] = target
        warnings.extend(f"{display_name(path)}: {note}" for note in notes)
        if target.rpartition("/")[2] != script_name(base):
            why = "was taken" if _folder_join(folder, script_name(base)) in files else "is not usable"
            warnings.append(
                f"{display_name(path)} was converted to {display_name(target)} "
                f"(the name {script_name(base)} {why})."
            )
    return dict(sorted(files.items())), converted, warnings


def _declared_entry(shown: str, files: dict[str, bytes]) -> tuple[str, str] | None:
    """(declared path, where it was declared) from grader.toml or entry.txt at the top."""
    if "grader.toml" in files:
        how = 'It should hold one line naming the file to run, like: entry = "train.py"'
        try:
            config = tomllib.loads(files["grader.toml"].decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise SubmissionRejected(f"{shown}: grader.toml cannot be read ({exc}). {how}") from None
        entry = config.get("entry")
        if not isinstance(entry, str) or not entry.strip():
            raise SubmissionRejected(
                f'{shown}: grader.toml has no entry = "..." line naming the file to run. {how}'
            )
        return entry, "grader.toml"
    if "entry.txt" in files:
        lines = files["entry.txt"].decode("utf-8", "replace").splitlines()
        entry = next((line.strip() for line in lines if line.strip() and not line.startswith("#")), "")
        if not entry:
            raise SubmissionRejected(
                f"{shown}: entry.txt is empty. Write the name of the file to run in it, e.g. train.py."
            )
        return entry, "entry.txt"
    return None


def _choose_entry(
    shown: str, files: dict[str, bytes], converted: dict[str, str], stripped: str | None
) -> tuple[str, str | None]:
    """(entry path, a note about how it was chosen) or SubmissionRejected."""
    declared = _declared_entry(shown, files)
    if declared is not None:
        raw, source = declared
        wanted = raw.strip().replace("\\", "/")
        while wanted.startswith("./"):
            wanted = wanted[2:]
        options = (
            [wanted, wanted[len(stripped) + 1 :]]
            if stripped and wanted.startswith(stripped + "/")
            else [wanted]
        )
        for option in options:
            found = converted.get(option) or (option if option in files else None)
            if found is not None and found.endswith(".py"):
                return found, None
            if found is not None:
                raise SubmissionRejected(
                    f'{shown}: {source} names "{display_name(raw)}" as the file to run, but it must be a '
                    ".py file or a notebook (.ipynb). Name your Python script there."
                )
        scripts = sorted(p for p in files if p.endswith(".py")) or ["(none)"]
        raise SubmissionRejected(
            f'{shown}: {source} names "{display_name(raw)}" as the file to run, but the zip has no such '
            f"file. Python files in the zip: {', '.join(map(display_name, scripts[:20]))}. Fix the name "
            "in " + source + " (paths are relative to the top of the zip)."
        )
    for name in ENTRY_NAMES:
        if name in files:
            return (
                name,
                None
                if name == "solution.py"
                else f"Running {name}: the zip has no grader.toml or solution.py.",
            )
    notebooks = [p for p in converted if "/" not in p]
    scripts = [p for p in files if "/" not in p and p.endswith(".py") and p not in converted.values()]
    if len(scripts) == 1 and not notebooks:
        return scripts[0], f"Running {scripts[0]}, the only Python file at the top of the zip."
    if len(notebooks) == 1 and not scripts:
        return converted[notebooks[0]], f"Running {notebooks[0]}, the only notebook at the top of the zip."
    anywhere = [p for p in files if p.endswith(".py") and p not in converted.values()] + list(converted)
    listed = sorted(scripts + notebooks) or sorted(anywhere)
    listing = (
        ", ".join(display_name(p) for p in listed[:20]) if listed else "no Python files or notebooks at all"
    )
    raise SubmissionRejected(
        f"{shown}: cannot tell which file to run. Candidates: {listing}. Name the file to run in {DECLARE}, "
        "or rename it to solution.py."
    )


def _prepare_zip(shown: str, content: bytes, limits: UploadLimits) -> PreparedSubmission:
    try:
        archive = read_archive(shown, content, limits)
    except ArchiveError as exc:
        raise SubmissionRejected(str(exc)) from None
    files, converted, notes = _convert_zip_members(shown, archive.files)
    warnings: list[str] = []
    if archive.ignored:
        names = ", ".join(display_name(p) for p in archive.ignored[:5])
        more = f" and {len(archive.ignored) - 5} more" if len(archive.ignored) > 5 else ""
        warnings.append(
            f"Left out {len(archive.ignored)} system or cache file(s) the grader does not need: {names}{more}."
        )
    entry, note = _choose_entry(shown, files, converted, archive.stripped_folder)
    warnings.extend([*notes, *([note] if note else [])])
    mode, mode_note = detect_mode(_decode_python(display_name(entry), files[entry]), entry)
    warnings.extend([mode_note] if mode_note else [])
    stem = entry.rpartition("/")[2][:-3]
    if mode == "module" and not importable(stem):
        raise SubmissionRejected(
            f"{shown}: {display_name(entry)} defines build_model(), so the grader imports it as a module, "
            f'but "{display_name(stem)}" cannot be imported under that name. Rename the file to solution.py.'
        )
    return PreparedSubmission(files, entry, mode, warnings, "zip")


def prepare_submission(
    filename: str, content: bytes, limits: UploadLimits = UploadLimits()
) -> PreparedSubmission:
    """Check and unpack an upload; raises SubmissionRejected with a message for the student."""
    name = filename.replace("\\", "/").rpartition("/")[2].strip()
    shown = display_name(name) if name else "The uploaded file"
    kind = _check_upload(shown, name, content, limits)
    if kind == "python":
        return _prepare_python(name, shown, content)
    if kind == "notebook":
        return _prepare_notebook(name, shown, content)
    return _prepare_zip(shown, content, limits)
