"""Output paths built from identifiers, and checked to stay inside their folder.

An org id ``../../etc`` once made report files land outside ``--out``.  Every path the
workbench writes below a folder chosen by the user (reports, exports, evidence, backups) is
built with :func:`inside` from parts that are identifiers (:func:`check_identifier`, the
alphabet of :data:`carbonlib.lake.schema.ID_PATTERN`) and is resolved and checked to lie
below that folder before anything is written.
"""

from __future__ import annotations

import re
from pathlib import Path

from .lake.schema import ID_PATTERN

_ID = re.compile(ID_PATTERN)


def is_identifier(text: object) -> bool:
    """True when ``text`` is an identifier (letters, digits, ``_ - . :``, no ``..``, at most 128 characters)."""
    return isinstance(text, str) and bool(_ID.fullmatch(text)) and ".." not in text


def check_identifier(text: object, what: str) -> str:
    """``text`` when it is an identifier, else ValueError naming ``what`` and the alphabet."""
    if not is_identifier(text):
        shown = repr(text) if len(repr(text)) <= 60 else repr(text)[:59] + "…"
        raise ValueError(f"{what} {shown} is not an identifier: use letters, digits and _ - . : only "
                         "(starting with a letter or digit, at most 128 characters, no '..')")
    return text


def inside(base: str | Path, *parts: str) -> Path:
    """``base/part/…`` resolved, with every part an identifier and the result below ``base``; else ValueError."""
    root = Path(base).resolve()
    for part in parts:
        check_identifier(part, "path part")
    target = root.joinpath(*parts).resolve()
    if target != root and root not in target.parents:
        raise ValueError(f"{target} lies outside {root}; refusing to write there")
    return target
