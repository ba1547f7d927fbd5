"""Reports: matplotlib figures and one self-contained HTML page per run."""

from deepgen.report.html import HtmlReport

__all__ = ["HtmlReport"]
