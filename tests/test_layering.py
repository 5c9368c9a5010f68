"""Imports flow one way: the pages (grader/web), the REST API and LTI use the domains' services and
queries, which use the models. Nothing outside grader/web may import it, so the API never depends on
a page; this reads every module's imports (ast, not a grep) and fails on a new one."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "grader"
WEB = "grader.web"

# (importing file, imported module) -> why it may. Remove an entry when its import goes.
ALLOWED = {
    # The application factory is where the layers are put together: it registers the pages.
    ("grader/app.py", "grader.web"): "composition root",
    # Browser pages of their own that use the pages' session login, CSRF check and error page.
    # To move out of grader/web with the next change to those files (edited by someone else now).
    ("grader/lti/views.py", "grader.web.auth"): "LTI's pages: session login and CSRF",
    ("grader/webhooks/views.py", "grader.web.auth"): "the webhooks page: session login and CSRF",
    ("grader/webhooks/views.py", "grader.web.views"): "the webhooks page: the pages' error page",
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
    # `from grader.web.auth import current_user` also yields grader.web.auth.current_user.
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
