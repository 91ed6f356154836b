"""Serial numbers of credits: one registry-wide sequence, shown per block with its origin.

Every credit (one tCO2e) has a registry-wide serial number, allocated in order at issuance, so
two issuances never share a serial.  A block of consecutive serials is shown as

    ``<project_id>-<vintage>-<batch number>-<first serial>-<last serial>``

e.g. ``PRJ-4301-2024-001-000000000001-000000001250``: project PRJ-4301, vintage 2024, its first
issuance batch, serials 1 to 1250 (twelve digits each, so labels sort like the serials).  A
partial operation splits a block in two at a serial; the labels of both halves follow.
"""

from __future__ import annotations

import re

WIDTH = 12
_LABEL = re.compile(r"(?P<project>.+)-(?P<vintage>\d{4})-(?P<batch>\d{3,})-(?P<start>\d{12})-(?P<end>\d{12})")


def batch_number(batch_id: str) -> int:
    """The number of issuance batch ``<project>-<vintage>-B<n>``."""
    return int(batch_id.rsplit("-B", 1)[1])


def batch_id(project_id: str, vintage: int, number: int) -> str:
    return f"{project_id}-{vintage}-B{number}"


def label(project_id: str, vintage: int, batch: str, start: int, end: int) -> str:
    """The printed serial range of a block (see module doc)."""
    return f"{project_id}-{vintage}-{batch_number(batch):03d}-{start:0{WIDTH}d}-{end:0{WIDTH}d}"


def parse(text: str) -> tuple[str, int, int, int, int]:
    """(project, vintage, batch number, first, last) of a label; ValueError naming the expected form."""
    match = _LABEL.fullmatch(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a serial range: expected <project>-<vintage>-<batch>-<first>-<last> "
                         f"with {WIDTH}-digit serials, e.g. PRJ-4301-2024-001-000000000001-000000001250")
    start, end = int(match["start"]), int(match["end"])
    if end < start:
        raise ValueError(f"{text!r}: the last serial is before the first")
    return match["project"], int(match["vintage"]), int(match["batch"]), start, end
