"""The one place HTML and Markdown are built from values: everything shown is escaped here.

Org names, URL parameters, ledger text and error messages reach pages and reports; an org
named ``<img src=x onerror=…>`` must show as that text, never run.  Dashboards build HTML
only with :func:`html` (a template whose ``{}`` fields are HTML-escaped by MarkupSafe,
Jinja's escaper) and show it only through panes that accept :class:`Markup`; report
notebooks put values into Markdown only through :func:`md_text`.
"""

from __future__ import annotations

import re

from markupsafe import Markup, escape

__all__ = ["Markup", "escape", "html", "join", "md_text"]

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|>~])")


def html(template: str, *values: object, **named: object) -> Markup:
    """``template`` (trusted HTML written in code) with its ``{}`` / ``{name}`` fields filled by escaped values.

    A value that is already :class:`Markup` (built by this function) is inserted as is, so
    pieces compose without double escaping.
    """
    return Markup(template).format(*values, **named)


def join(separator: str, parts) -> Markup:
    """``parts`` (Markup or plain values, the latter escaped) joined by the trusted ``separator``."""
    return Markup(separator).join(escape(p) for p in parts)


def md_text(value: object) -> str:
    """``value`` as literal text inside Markdown: HTML-escaped and Markdown punctuation backslash-escaped."""
    text = str(escape(str(value)))
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text).replace("\n", " ")
