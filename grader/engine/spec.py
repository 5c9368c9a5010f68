"""Assignment specs: one ``assignment.toml`` per folder (the built-in ones under ``builtin/``).

A spec is self-contained once parsed: the files it refers to (a target
function, a training-data file) are read into ``files``, so a published
version can be stored and re-parsed without the folder. Every error names the
file, the field and what is allowed (``docs/authoring.md`` is the reference).
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from grader.engine import rules
from grader.engine.fields import SpecError, Table
from grader.engine.rules import Budget, Data, Grading, Solution, SubmissionPolicy, Target, Task
from grader.engine.sweep_rules import SweepPolicy, parse_sweep
from grader.engine.variables import Variable, parse_constraint, parse_variable

__all__ = ["Assignment", "SpecError", "find", "load", "parse"]

BUILTIN = Path(__file__).resolve().parent / "builtin"  # package data: there in a wheel too
SPEC_FILE = "assignment.toml"
TOP_LEVEL = {
    "slug", "title", "description", "task", "inputs", "latent", "constraints", "target", "data",
    "metric", "budget", "submissions", "grading", "solutions", "sweep",
}  # fmt: skip
Reader = Callable[[str], bytes]


@dataclass(frozen=True)
class Assignment:
    slug: str
    title: str
    description: str
    task: Task
    variables: tuple[Variable, ...]
    constraints: tuple[str, ...]
    target: Target
    data: Data
    grading: Grading
    budget: Budget
    submissions: SubmissionPolicy
    solutions: tuple[Solution, ...]
    text: str
    files: dict[str, bytes] = field(default_factory=dict)  # referenced files, by relative path
    sweep: SweepPolicy | None = None  # None: uploads with a sweep are refused
    folder: Path | None = None

    @property
    def inputs(self) -> tuple[Variable, ...]:
        return tuple(v for v in self.variables if not v.latent)

    @property
    def points(self) -> float:
        return self.grading.points

    @property
    def metric(self) -> str:
        return self.grading.metric

    @property
    def digest(self) -> str:
        """Changes whenever the spec or a file it uses changes (a new version when published)."""
        h = hashlib.sha256(self.text.encode())
        for name in sorted(self.files):
            h.update(f"\0{name}\0".encode() + hashlib.sha256(self.files[name]).digest())
        return h.hexdigest()


def load(folder: Path, validate: bool = True) -> Assignment:
    folder = Path(folder)
    path = folder / SPEC_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{path}: no {SPEC_FILE} in {folder}") from None
    return parse(text, str(path), folder_reader(folder, str(path)), folder, validate)


def folder_reader(folder: Path, where: str) -> Reader:
    def read(name: str) -> bytes:
        relative = PurePosixPath(name)
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            raise SpecError(f"{where}: {name!r} must be a path inside the assignment folder")
        try:
            return (folder / relative).read_bytes()
        except OSError as exc:
            raise SpecError(f"{where}: cannot read {name!r} in {folder}: {exc.strerror}") from None

    return read


def bundle_reader(files: dict[str, bytes], where: str) -> Reader:
    def read(name: str) -> bytes:
        if name not in files:
            raise SpecError(f"{where}: {name!r} is not among the files published with this version")
        return files[name]

    return read


def parse(
    text: str, where: str, read: Reader, folder: Path | None = None, validate: bool = True
) -> Assignment:
    """A spec from its text; ``read`` gives the files it refers to.

    ``validate`` also draws a sample to check the constraints and the target (done when an
    assignment is checked or published; a stored version was checked then).
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{where}: not valid TOML: {exc}") from None
    top = Table(raw, where, TOP_LEVEL)
    slug = top.get("slug", str)
    if not slug or not all(c.isalnum() or c in "-_" for c in slug) or slug != slug.lower():
        raise SpecError(f"{top.field('slug')}: {slug!r}; use lower-case letters, digits, '-' and '_'")
    if folder is not None and folder.name != slug and folder.parent == BUILTIN:
        raise SpecError(f"{top.field('slug')}: {slug!r} differs from its folder name {folder.name!r}")
    task = rules.parse_task(top)
    variables = _variables(top)
    names = {v.name for v in variables}
    inputs = [v.name for v in variables if not v.latent]
    if not inputs:
        raise SpecError(f"{where}: [inputs] declares no input; the model needs at least one")
    constraints = tuple(
        parse_constraint(c, f"{top.field('constraints')}[{i}]", names)
        for i, c in enumerate(top.get("constraints", list, []))
    )
    files: dict[str, bytes] = {}
    target = rules.parse_target(top, names, read, files)
    data = rules.parse_data(top, inputs, read, files)
    grading = rules.parse_grading(top, task)
    spec = Assignment(
        slug=slug,
        title=top.get("title", str),
        description=top.get("description", str, ""),
        task=task,
        variables=variables,
        constraints=constraints,
        target=target,
        data=data,
        grading=grading,
        budget=rules.parse_budget(top),
        submissions=rules.parse_submissions(top),
        solutions=rules.parse_solutions(top, folder),
        text=text,
        sweep=parse_sweep(top),
        files=files,
        folder=folder,
    )
    if validate:
        from grader.engine.sampling import check_drawable  # sampling needs the parsed spec

        check_drawable(spec, where)
    return spec


def _variables(top: Table) -> tuple[Variable, ...]:
    variables: list[Variable] = []
    from_file = isinstance(top.raw.get("data"), dict) and "file" in top.raw["data"]
    for section, latent in (("latent", True), ("inputs", False)):
        for name, raw in top.get(section, dict, {}).items():
            where = f"{top.field(section)}.{name}"
            if any(v.name == name for v in variables):
                raise SpecError(f"{where}: {name!r} is declared twice")
            variables.append(parse_variable(name, raw, where, latent, {v.name for v in variables}, from_file))
    return tuple(variables)


def find(slug_or_path: str, validate: bool = True) -> Assignment:
    """A built-in assignment by slug, or an assignment folder by path."""
    path = Path(slug_or_path)
    if (path / SPEC_FILE).exists():
        return load(path, validate)
    folder = BUILTIN / slug_or_path
    if not (folder / SPEC_FILE).exists():
        raise SpecError(f"no assignment {slug_or_path!r}; built-in ones: {', '.join(builtin_slugs())}")
    return load(folder, validate)


def builtin_slugs() -> list[str]:
    return sorted(p.parent.name for p in BUILTIN.glob(f"*/{SPEC_FILE}"))
