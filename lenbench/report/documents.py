"""Report documents: Markdown beside its PNGs, and one self-contained HTML file (images inlined)."""

from __future__ import annotations

import base64
from pathlib import Path

import pandas as pd
from jinja2 import Environment, PackageLoader
from markupsafe import Markup

Sections = list[tuple[str, pd.DataFrame]]
"""(title, table) pairs, in order; the first is the main comparison."""
_TEMPLATES = Environment(loader=PackageLoader("lenbench.report"), autoescape=True, keep_trailing_newline=True)


def markdown_report(sections: Sections, excluded: list[str], images: list[Path]) -> str:
    parts = ["# lenbench report", ""]
    for title, table in sections:
        if not table.empty:
            parts += [f"## {title}", "", table.to_markdown(floatfmt=".3f"), ""]
    parts += [f"![{image.stem}]({image.name})" for image in images]
    if excluded:
        parts += ["", "## Excluded runs", ""] + [f"- {reason}" for reason in excluded]
    return "\n".join(parts) + "\n"


def html_report(sections: Sections, excluded: list[str], images: list[Path]) -> str:
    """The report as one HTML file (templates/report.html.j2): every text escaped by the template
    engine, the tables by pandas (escape=True), the images inlined as base64."""
    tables = [(title, Markup(table.to_html(float_format="%.3f", escape=True))) for title, table in sections
              if not table.empty]
    inlined = [(image.stem, base64.b64encode(image.read_bytes()).decode()) for image in images]
    return _TEMPLATES.get_template("report.html.j2").render(sections=tables, images=inlined, excluded=excluded)
