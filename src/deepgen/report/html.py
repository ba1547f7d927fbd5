"""One self-contained HTML page per run: images embedded as data URIs, tables of settings
and results; no external files, scripts or fonts, so it opens offline in any browser."""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from deepgen.fileio import atomic_write_bytes

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5em 0; }
td, th { border: 1px solid #ddd; padding: 0.25em 0.7em; text-align: left; font-size: 0.92em; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1em 0; } img { max-width: 100%; } figcaption { color: #555; font-size: 0.9em; }
"""


def _format(value: Any) -> tuple[str, bool]:
    if isinstance(value, bool) or value is None:
        return str(value), False
    if isinstance(value, int):
        return f"{value:,}", True
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value), True
        return (f"{value:.4g}" if abs(value) < 1e-3 or abs(value) >= 1e5 else f"{value:.4f}"), True
    return str(value), False


class HtmlReport:
    """Collects headings, paragraphs, tables and images, then writes one HTML file."""

    def __init__(self, title: str) -> None:
        self.title = title
        self._parts: list[str] = []

    def heading(self, text: str) -> None:
        """A section heading."""
        self._parts.append(f"<h2>{html.escape(text)}</h2>")

    def paragraph(self, text: str) -> None:
        """A paragraph of plain text (escaped)."""
        self._parts.append(f"<p>{html.escape(text)}</p>")

    def table(self, rows: Mapping[str, Any], caption: str | None = None) -> None:
        """A two-column table: name, value."""
        body = []
        for key, value in rows.items():
            text, numeric = _format(value)
            cls = ' class="num"' if numeric else ""
            body.append(
                f"<tr><th>{html.escape(str(key))}</th><td{cls}>{html.escape(text)}</td></tr>"
            )
        cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
        self._parts.append(f"<table>{cap}{''.join(body)}</table>")

    def image(self, path: str | Path, caption: str) -> None:
        """Embed a PNG file as a base64 data URI, with a caption."""
        data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        alt = html.escape(caption)
        self._parts.append(
            f'<figure><img src="data:image/png;base64,{data}" alt="{alt}">'
            f"<figcaption>{alt}</figcaption></figure>"
        )

    def render(self) -> str:
        """The whole page as a string."""
        title = html.escape(self.title)
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{title}</title><style>{_STYLE}</style></head>"
            f"<body><h1>{title}</h1>{''.join(self._parts)}</body></html>\n"
        )

    def write(self, path: str | Path) -> Path:
        """Write the page atomically and return its path."""
        path = Path(path)
        atomic_write_bytes(path, self.render().encode("utf-8"))
        return path
