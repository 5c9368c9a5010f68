"""Imports flow one way: the pages (grader/web), the REST API and LTI use the domains' services and
queries, which use the models. Nothing outside grader/web may import it, so the API never depends on
a page; this reads every module's imports (ast, not a grep) and fails on a new one. The grading engine
(grader/engine) imports nothing of the service, and no two packages import each other. The tests' modules
likewise never import a test module or a conftest: they share helpers through tests/support."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "grader"
WEB = "grader.web"

# (importing file, imported module) -> why it may. Remove an entry when its import goes.
ALLOWED = {
    # The application factory is where the layers are put together: it registers the pages.
    ("grader/app.py", "grader.web"): "composition root",
}


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(path: Path, root: Path = ROOT) -> set[str]:
    """Every module the file imports, relative imports resolved, ``from x import y`` as both x and x.y
    (y may be a submodule: ``from grader import web``)."""
    module = _module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            found.add(source)
            found.update(f"{source}.{alias.name}" for alias in node.names)
    return found


def _is_web(module: str) -> bool:
    return module == WEB or module.startswith(WEB + ".")


def web_imports_outside_web() -> list[tuple[str, str]]:
    crossings = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if (PACKAGE / "web") in path.parents:
            continue
        where = path.relative_to(ROOT).as_posix()
        for module in sorted(_imported(path)):
            if _is_web(module):
                crossings.append((where, module))
    return crossings


def _allowed(where: str, module: str) -> bool:
    # `from grader.web.views import x` also yields grader.web.views.x.
    return any(where == w and (module == m or module.startswith(m + ".")) for w, m in ALLOWED)


def test_nothing_outside_the_pages_imports_them() -> None:
    crossings = web_imports_outside_web()
    unexpected = [(where, module) for where, module in crossings if not _allowed(where, module)]
    assert not unexpected, (
        "these modules import grader.web (the pages); move what they need into the domain "
        f"(services or queries) and import it from there: {unexpected}"
    )


def test_the_check_sees_every_form_of_import(tmp_path: Path) -> None:
    """The parser finds absolute, from-package and relative imports of grader.web."""
    fake = tmp_path / "grader" / "submissions"
    fake.mkdir(parents=True)
    samples = {
        "a.py": "import grader.web.queries\n",
        "b.py": "from grader import web\n",
        "c.py": "from grader.web.views import OUTPUT_TEXT\n",
        "d.py": "from ..web import exports\n",
        "e.py": "def f():\n    from grader.web import class_queries\n",
        "ok.py": "from grader.webhooks import services\nfrom . import scoreboard\n",
    }
    for name, text in samples.items():
        (fake / name).write_text(text)
    hits = {name: any(_is_web(m) for m in _imported(fake / name, tmp_path)) for name in samples}
    assert hits == {"a.py": True, "b.py": True, "c.py": True, "d.py": True, "e.py": True, "ok.py": False}


# --- the grading engine -----------------------------------------------------------------------
ENGINE = PACKAGE / "engine"
BUILTIN = ENGINE / "builtin"  # the built-in assignments' solutions: student code shipped as data
SERVICE_LIBRARIES = ("flask", "flask_sqlalchemy", "flask_migrate", "sqlalchemy", "alembic", "celery", "kombu",
                     "werkzeug", "redis", "psycopg", "gunicorn", "gevent", "pylti1p3", "pydantic")  # fmt: skip


def _engine_modules() -> list[Path]:
    return [path for path in sorted(ENGINE.rglob("*.py")) if BUILTIN not in path.parents]


def engine_imports_of_the_service() -> list[tuple[str, str]]:
    """(engine file, module) for each import of the service by the engine: a library of the web
    service, or a grader module outside grader.engine."""
    found = []
    for path in _engine_modules():
        for module in sorted(_imported(path)):
            top = module.split(".")[0]
            outside = module.startswith("grader.") and not (
                module == "grader.engine" or module.startswith("grader.engine.")
            )
            if top in SERVICE_LIBRARIES or outside:
                found.append((path.relative_to(ROOT).as_posix(), module))
    return found


def test_the_engine_imports_nothing_of_the_service() -> None:
    """grader/engine (spec, runner, sandbox, harness, diagnosis, scoring, verdicts) could be published
    alone: `grader run` and `grader assignments check` need nothing of Flask, SQLAlchemy or Celery."""
    assert len(_engine_modules()) > 50  # the engine is where this test looks
    assert engine_imports_of_the_service() == [], (
        "the engine imports the service; pass what it needs in as arguments, or move the shared part "
        "into grader/engine"
    )


def test_grader_run_imports_no_library_of_the_service() -> None:
    """The command line (`grader run` among its commands) starts without the web service's libraries."""
    code = (
        "import sys, grader.cli\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({SERVICE_LIBRARIES!r})))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def _unit(module: str, package: Path = PACKAGE) -> str | None:
    """The package a module belongs to: grader.<x>, or grader.engine.<x> for the engine's own
    packages (its top modules are grader.engine); modules at grader's top (app, config, cli) none."""
    parts = module.split(".")
    if len(parts) >= 3 and parts[1] == "engine" and (package / "engine" / parts[2]).is_dir():
        return ".".join(parts[:3])
    if len(parts) >= 2 and (package / parts[1]).is_dir():
        return ".".join(parts[:2])
    return None


def package_cycles(package: Path = PACKAGE, root: Path = ROOT) -> list[list[str]]:
    """Each group of packages that import each other, directly or round a loop (Tarjan's strongly
    connected components of the package graph), largest first."""
    graph: dict[str, set[str]] = {}
    for path in sorted(package.rglob("*.py")):
        if BUILTIN in path.parents:
            continue
        source = _unit(_module_name(path, root), package)
        if source is None:
            continue
        graph.setdefault(source, set())
        for module in _imported(path, root):
            target = _unit(module, package) if module.startswith("grader.") else None
            if target is not None and target != source:
                graph[source].add(target)
                graph.setdefault(target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for after in sorted(graph[node]):
            if after not in index:
                visit(after)
                low[node] = min(low[node], low[after])
            elif after in stack:
                low[node] = min(low[node], index[after])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(groups, key=len, reverse=True)


def test_no_two_packages_import_each_other() -> None:
    """Each package builds on the ones below it: pages and API on the domains' services, sweeps on
    submissions, submissions on assignments, all of them on the engine. A loop makes every package
    in it one tangle that can only change together."""
    assert package_cycles() == []


def test_the_cycle_check_finds_a_loop_through_three_packages(tmp_path: Path) -> None:
    fake = tmp_path / "grader"
    for name, text in {
        "a/__init__.py": "", "a/x.py": "from grader.b import y\n",
        "b/__init__.py": "", "b/y.py": "from grader.c.z import f\n",
        "c/__init__.py": "", "c/z.py": "def f():\n    from grader.a import x\n",
        "d/__init__.py": "", "d/w.py": "from grader.a import x\n",
    }.items():  # fmt: skip
        (fake / name).parent.mkdir(parents=True, exist_ok=True)
        (fake / name).write_text(text)
    assert package_cycles(fake, tmp_path) == [["grader.a", "grader.b", "grader.c"]]


# --- the tests' own modules ---------------------------------------------------------------------
# pytest imports a test module by its path under tests/ (tests/ is on sys.path, not a package):
# tests/service/test_pages.py is ``service.test_pages``, tests/test_grading.py is ``test_grading``.
TESTS = ROOT / "tests"
STUDENT_CODE = TESTS / "corpus" / "real"  # scripts kept as students wrote them: not the tests' code


def _test_modules(tests: Path) -> dict[str, Path]:
    """The tests' own modules by the name they are imported under, student code left out."""
    return {
        _module_name(path, tests): path
        for path in sorted(tests.rglob("*.py"))
        if STUDENT_CODE not in path.parents
    }


def _imports_between_tests(tests: Path) -> list[tuple[str, str]]:
    """(importing file, imported module) for each import of a test module (test_*.py) or of a conftest
    by a module of the tests; ``tests.x`` counts as ``x``."""
    modules = _test_modules(tests)
    shared_wrongly = {
        name for name, path in modules.items() if path.name.startswith("test_") or path.name == "conftest.py"
    }
    found = []
    for name, path in modules.items():
        imported = {m.removeprefix("tests.") for m in _imported(path, tests)}
        for module in sorted((imported & shared_wrongly) - {name}):
            found.append((path.relative_to(tests.parent).as_posix(), module))
    return found


def test_test_modules_share_helpers_through_support_not_through_each_other() -> None:
    """Helpers and constants are shared through tests/support, fixtures through a conftest (pytest
    hands them out by name). A test module that imports another breaks when that one is renamed,
    split or deleted, and a test function it imports is collected, and run, a second time."""
    unexpected = _imports_between_tests(TESTS)
    assert not unexpected, (
        "these modules import a test module or a conftest; move what they share into tests/support "
        f"(helpers, constants) or a conftest's fixtures, and import it from there: {unexpected}"
    )


def test_the_tests_check_sees_every_form_of_import(tmp_path: Path) -> None:
    """Relative, absolute (with or without ``tests.``), from-package and function-local imports of a
    test module or a conftest are found; support and plain modules are not."""
    service = tmp_path / "tests" / "service"
    (tmp_path / "tests" / "support").mkdir(parents=True)
    service.mkdir()
    samples = {
        "service/__init__.py": "",
        "service/conftest.py": "",
        "service/helpers.py": "from .conftest import enroll\n",
        "service/test_a.py": "from .test_b import login\n",
        "service/test_b.py": "def f():\n    from tests.service.test_a import x\n",
        "service/test_c.py": "from service import test_a\n",
        "service/test_d.py": "import service.conftest\n",
        "test_top.py": "from test_other import helper\n",
        "test_other.py": "from support.pages import log_in\nfrom service import helpers\nimport pytest\n",
        "support/__init__.py": "",
        "support/pages.py": "import re\n",
    }
    for name, text in samples.items():
        (tmp_path / "tests" / name).write_text(text)
    assert _imports_between_tests(tmp_path / "tests") == [
        ("tests/service/helpers.py", "service.conftest"),
        ("tests/service/test_a.py", "service.test_b"),
        ("tests/service/test_b.py", "service.test_a"),
        ("tests/service/test_c.py", "service.test_a"),
        ("tests/service/test_d.py", "service.conftest"),
        ("tests/test_top.py", "test_other"),
    ]


def test_every_blueprint_is_registered_by_the_application_factory() -> None:
    """create_app lists the service's blueprints in one place: no package registers its own on the side."""
    elsewhere = [
        path.relative_to(ROOT).as_posix()
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != PACKAGE / "app.py"
        and any(
            isinstance(node, ast.Attribute) and node.attr == "register_blueprint"
            for node in ast.walk(ast.parse(path.read_text(), str(path)))
        )
    ]
    assert elsewhere == []
