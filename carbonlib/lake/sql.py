"""The one quoting helper: how a value or a name gets into SQL text when it cannot be a bound parameter.

Values go into SQL as bound parameters (``?``) wherever DuckDB takes them.  A few places
cannot take parameters: the ``ATTACH`` and ``INSTALL`` statements, the catalog name inside
DuckLake table functions, and identifiers.  There, and only there, text goes through
:func:`literal` (a string literal with its quotes doubled) or :func:`ident` (a name checked
against the identifier pattern).  DuckDB runs several statements from one string, so a
value pasted into SQL any other way can run arbitrary SQL; ``tests/test_sql_safety.py``
checks that every SQL f-string in ``carbonlib`` interpolates only these helpers, constants
and schema names.
"""

from __future__ import annotations

import re
from collections.abc import Sized

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def ident(name: str) -> str:
    """``name`` as an SQL identifier, refused unless it matches ``[A-Za-z_][A-Za-z0-9_]*`` (≤ 63 chars)."""
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"{str(name)[:60]!r} is not a plain SQL identifier (letters, digits and _ only)")
    return name


def literal(value: object) -> str:
    """``value`` as an SQL string literal: ``'…'`` with every ``'`` doubled; NUL characters refused."""
    text = str(value)
    if "\x00" in text:
        raise ValueError("a NUL character cannot go into SQL text")
    return "'" + text.replace("'", "''") + "'"


def marks(values: Sized | int) -> str:
    """``?, ?, …``: one parameter mark per value (for ``IN (…)`` lists of bound values)."""
    count = values if isinstance(values, int) else len(values)
    if count < 1:
        raise ValueError("an IN list needs at least one value")
    return ", ".join("?" * count)
