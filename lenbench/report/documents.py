"""Report documents: Markdown beside its PNGs, and one self-contained HTML file (images inlined)."""

from __future__ import annotations

import base64
from pathlib import Path

import pandas as pd

Sections = list[tuple[str, pd.DataFrame]]
"""(title, table) pairs, in order; the first is the main comparison."""


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
    body = ["<h1>lenbench report</h1>"]
    for title, table in sections:
        if not table.empty:
            body += [f"<h2>{title}</h2>", table.to_html(float_format="%.3f")]
    for image in images:
        data = base64.b64encode(image.read_bytes()).decode()
        body.append(f'<p><img alt="{image.stem}" src="data:image/png;base64,{data}"></p>')
    if excluded:
        body += ["<h2>Excluded runs</h2>", "<ul>"] + [f"<li>{reason}</li>" for reason in excluded] + ["</ul>"]
    return ("<!doctype html><html><head><meta charset='utf-8'><title>lenbench report</title>"
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}</style></head><body>"
            + "\n".join(body) + "</body></html>\n")
