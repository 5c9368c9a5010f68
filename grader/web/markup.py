"""An assignment's description as HTML: Markdown (no raw HTML) with its maths as MathML.

The maths is converted on the server (``$...$`` inline, ``$$...$$`` displayed), so the
browser needs no script, no fonts and no relaxed content-security policy to show it.
"""

from __future__ import annotations

import functools
import html
import re

from latex2mathml.converter import convert
from markdown_it import MarkdownIt
from markupsafe import Markup

MATH = re.compile(r"\$\$(.+?)\$\$|\$(?!\s)([^$\n]+?)(?<!\s)\$", re.DOTALL)
_markdown = MarkdownIt("commonmark", {"html": False}).enable("table")


def _mathml(tex: str, display: bool) -> str:
    try:
        rendered: str = convert(tex.strip(), display="block" if display else "inline")
    except Exception:  # noqa: BLE001 - a formula the converter cannot read is shown as its source
        return f'<code class="tex">{html.escape(tex)}</code>'
    return rendered


# A description is the same text on every view of its version: each process keeps the latest ones.
@functools.lru_cache(maxsize=64)
def description_html(text: str) -> Markup:
    """Markdown to HTML; raw HTML in the text is escaped, formulas become MathML."""
    formulas: list[str] = []

    def hold(match: re.Match[str]) -> str:
        display = match.group(1) is not None
        formulas.append(_mathml(match.group(1) if display else match.group(2), display))
        return f"MATHFORMULA{len(formulas) - 1}END"

    rendered = _markdown.render(MATH.sub(hold, text.strip()))
    for index, formula in enumerate(formulas):
        rendered = rendered.replace(f"MATHFORMULA{index}END", formula)
    return Markup(rendered)  # built from escaped Markdown and generated MathML only
