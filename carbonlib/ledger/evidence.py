"""Evidence files of ledger entries (invoices, meter photos, lab reports): checked by content, stored by SHA-256.

A file is accepted only when its bytes are one of :data:`carbonlib.lake.schema.EVIDENCE_MEDIA_TYPES`
(recognised from the content with the ``filetype`` library, never from the name; a name whose
extension says otherwise is refused), at most :data:`MAX_BYTES`, and, for XLSX (a zip), when
its members unpack to at most :data:`MAX_UNPACKED_BYTES` with a compression ratio of at most
:data:`MAX_RATIO` (a zip bomb is refused before anything is unpacked).  CSV is UTF-8 text.

Stored once under ``<lake>/evidence/sha256/<2 hex>/<64 hex>`` (owner read/write only), written to a
temporary file and renamed, so a reader never sees half a file; identical files share one copy.
Reading re-checks the hash.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import filetype

from ..settings import Settings

#: Largest evidence file accepted (bytes): a multi-page scanned invoice or a phone photo fits.
MAX_BYTES = 20 * 1024 * 1024
#: Largest total an XLSX may unpack to, and the largest compression ratio of any member (zip bombs).
MAX_UNPACKED_BYTES = 100 * 1024 * 1024
MAX_RATIO = 100
#: media type -> file name extensions that may carry it
EXTENSIONS = {"application/pdf": (".pdf",), "image/png": (".png",), "image/jpeg": (".jpg", ".jpeg"),
              "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": (".xlsx",),
              "text/csv": (".csv", ".txt")}
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class EvidenceRefused(ValueError):
    """An evidence file that is not accepted (the message names the file and why)."""


@dataclass(frozen=True)
class Evidence:
    """An accepted file: its SHA-256 (hex), media type recognised from the content, size in bytes and name."""

    sha256: str
    media_type: str
    size_bytes: int
    filename: str


def _zip_is_safe(name: str, content: bytes) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            members = archive.infolist()
    except zipfile.BadZipFile as error:
        raise EvidenceRefused(f"evidence {name!r}: a damaged XLSX file ({error})") from None
    unpacked = sum(m.file_size for m in members)
    if unpacked > MAX_UNPACKED_BYTES:
        raise EvidenceRefused(f"evidence {name!r}: unpacks to {unpacked:,} bytes, more than {MAX_UNPACKED_BYTES:,} "
                              "(a zip bomb?); save a smaller workbook or a PDF")
    for m in members:
        if m.file_size > MAX_RATIO * max(m.compress_size, 1) and m.file_size > 1024 * 1024:
            raise EvidenceRefused(f"evidence {name!r}: member {m.filename!r} is compressed {m.file_size:,} to "
                                  f"{m.compress_size:,} bytes, more than {MAX_RATIO}:1 (a zip bomb?)")


def inspect(filename: str, content: bytes) -> Evidence:
    """Check one file; return what it is, or raise :class:`EvidenceRefused` saying why not."""
    name = PurePosixPath(filename.replace("\\", "/")).name.strip() or "unnamed"
    if not content:
        raise EvidenceRefused(f"evidence {name!r} is empty")
    if len(content) > MAX_BYTES:
        raise EvidenceRefused(f"evidence {name!r} has {len(content):,} bytes, more than the {MAX_BYTES:,} allowed; "
                              "scan at a lower resolution or split it")
    kind = filetype.guess(content)
    if kind is not None:
        media_type = kind.mime
    else:
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            media_type = "unknown binary data"
        else:
            media_type = "text/csv"
    if media_type not in EXTENSIONS:
        raise EvidenceRefused(f"evidence {name!r} is {media_type}, not one of PDF, PNG, JPEG, XLSX or CSV (the "
                              "content decides, not the name)")
    suffix = PurePosixPath(name.lower()).suffix
    if suffix not in EXTENSIONS[media_type]:
        raise EvidenceRefused(f"evidence {name!r} is named {suffix or 'without an extension'} but its content is "
                              f"{media_type}: rename it {' or '.join(EXTENSIONS[media_type])} or attach the right file")
    if media_type == _XLSX:
        _zip_is_safe(name, content)
    return Evidence(hashlib.sha256(content).hexdigest(), media_type, len(content), name)


def store_root(settings: Settings) -> Path:
    """The evidence folder of the lake: ``<lake>/evidence``."""
    return Path(settings.lake) / "evidence"


def path_of(settings: Settings, sha256: str) -> Path:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise EvidenceRefused(f"{sha256[:80]!r} is not a SHA-256")
    return store_root(settings) / "sha256" / sha256[:2] / sha256


def store(settings: Settings, evidence: Evidence, content: bytes) -> Path:
    """Write ``content`` (already :func:`inspect`-ed as ``evidence``) into the store unless it is there; its path."""
    target = path_of(settings, evidence.sha256)
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, target)
    return target


def read(settings: Settings, sha256: str) -> bytes:
    """The stored file with hash ``sha256``, re-checked against it (a changed file is refused)."""
    content = path_of(settings, sha256).read_bytes()
    if hashlib.sha256(content).hexdigest() != sha256:
        raise EvidenceRefused(f"evidence {sha256} no longer matches its SHA-256: the store was altered; restore it "
                              "from a backup (carbon backup restore)")
    return content
