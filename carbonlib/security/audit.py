"""The audit log: append-only, sealed entry by entry, and a signed RFC 6962 Merkle tree over it.

Every entry (GB/T 22239-2019 8.1.4.3 fields: UTC time, actor, role, action, object, org,
outcome, source address, detail) gets a sequence number and is stored with

* its leaf hash ``SHA-256(0x00 || canonical JSON)`` (RFC 6962), and
* a seal ``HMAC-SHA256(key, canonical JSON)`` with a key kept outside the store.

The store keeps the Merkle frontier of the log (:class:`~carbonlib.security.merkle.Frontier`),
so an append costs O(log n); every ``policy.checkpoint_every`` entries (and on demand) a
checkpoint ``(tree size, root)`` is signed with the Ed25519 audit key.  :meth:`AuditLog.verify`
re-reads the whole log and names the first entry that was edited (seal or leaf does not
match), deleted (a gap in the sequence) or truncated (fewer entries than the last checkpoint
covers); checkpoints let anyone with the public key check the log without the secrets.

A write to the log happens in the caller's transaction when there is one (a login and its
audit entry commit together); if the entry cannot be written the action fails (fail closed).
Nothing is ever deleted: entries older than the retention are archived to files with
:meth:`AuditLog.archive` and stay in the log.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import hmac
import io
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import ClassVar
from datetime import datetime
from pathlib import Path

from . import keys as audit_keys
from .merkle import Frontier, leaf_hash
from .policy import Policy
from .store import Store, Transaction, now

FIELDS = ("seq", "at", "actor", "role", "action", "object", "org_id", "outcome", "source", "detail")
OUTCOMES = ("ok", "denied", "failed", "started")
#: The canonical JSON as one template: keys sorted, no spaces, i.e. what ``json.dumps(sort_keys=True,
#: separators=(",", ":"), ensure_ascii=False)`` writes (a test checks byte for byte), 3x faster.
_TEMPLATE = "{" + ",".join(f'"{name}":%d' if name == "seq" else f'"{name}":%s' for name in sorted(FIELDS)) + "}"
_TEXT = json.encoder.encode_basestring  # a JSON string literal, non-ASCII kept (C implementation)
_LIMITS = {"actor": 64, "role": 64, "action": 64, "object": 400, "org_id": 128, "source": 128, "detail": 2000}
CHECKPOINT_FORMAT = "carbon-audit-checkpoint/v1"


@dataclass(frozen=True)
class Entry:
    seq: int
    at: str
    actor: str
    role: str
    action: str
    object: str
    org_id: str
    outcome: str
    source: str
    detail: str

    def canonical(self) -> bytes:
        """The bytes that are hashed and sealed: JSON of every field, sorted keys, no spaces, UTF-8."""
        return _canonical(tuple(getattr(self, name) for name in FIELDS))


def _canonical(values: tuple) -> bytes:
    """:meth:`Entry.canonical` of the field values in ``FIELDS`` order (the verifier's fast path).

    TypeError when a value is not of its type (text; ``seq`` a whole number): only an edited row can be.
    """
    seq, at, actor, role, action, object_, org_id, outcome, source, detail = values
    text = _TEXT
    if type(seq) is not int:
        raise TypeError("seq must be a whole number")
    return (_TEMPLATE % (text(action), text(actor), text(at), text(detail), text(object_), text(org_id), text(outcome),
                         text(role), seq, text(source))).encode()


@dataclass(frozen=True)
class Checkpoint:
    """A signed ``(tree_size, root_hash)`` of a log; subclasses of another log change ``FORMAT`` (the first line
    of the signed text), so a signature of one log never passes for the other's."""

    tree_size: int
    root_hash: str
    at: str
    key_id: str
    signature: str

    FORMAT: ClassVar[str] = CHECKPOINT_FORMAT

    def message(self) -> bytes:
        """The signed bytes: format line, tree size, root (hex) and time, one per line."""
        return f"{self.FORMAT}\n{self.tree_size}\n{self.root_hash}\n{self.at}\n".encode()


@dataclass(frozen=True)
class Verification:
    """What :meth:`AuditLog.verify` found; ``problem`` names the first damaged entry (None: intact)."""

    entries: int
    checkpoints: int
    last_checkpoint: int
    problem: str | None
    first_bad_seq: int | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def _clean(name: str, value: object) -> str:
    text = "" if value is None else str(value)
    limit = _LIMITS.get(name)
    return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"


class AuditLog:
    """The audit log of a security store (see module doc)."""

    def __init__(self, store: Store, keys: audit_keys.AuditKeys, policy: Policy):
        self.store = store
        self.keys = keys
        self.policy = policy

    # ------------------------------------------------------------------ writing
    def append(self, actor: str, role: str, action: str, *, object: str = "", org_id: str = "", outcome: str = "ok",
               source: str = "local", detail: str = "", tx: Transaction | None = None) -> Entry:
        """Append one entry (in ``tx`` when given, else in a transaction of its own) and return it."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, not {outcome!r}")
        if tx is not None:
            return self._append(tx, actor, role, action, object, org_id, outcome, source, detail)
        with self.store.transaction(exclusive=True) as own:
            return self._append(own, actor, role, action, object, org_id, outcome, source, detail)

    def _append(self, tx: Transaction, *values) -> Entry:
        head = tx.locked("SELECT frontier FROM audit_head WHERE id = 1")
        frontier = Frontier.from_json(json.loads(head[0]))
        fields = dict(zip(FIELDS[2:], values))
        entry = Entry(frontier.size, now(), **{k: _clean(k, v) for k, v in fields.items()})
        data = entry.canonical()
        leaf = leaf_hash(data)
        seal = hmac.new(self.keys.seal, data, hashlib.sha256).hexdigest()
        tx.run("INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
               [entry.seq, entry.at, entry.actor, entry.role, entry.action, entry.object, entry.org_id, entry.outcome,
                entry.source, entry.detail, leaf.hex(), seal])
        frontier.append(leaf)
        tx.run("UPDATE audit_head SET frontier = ? WHERE id = 1", [json.dumps(frontier.to_json())])
        if frontier.size % self.policy.checkpoint_every == 0:
            self._checkpoint(tx, frontier)
        return entry

    def checkpoint(self) -> Checkpoint:
        """Sign the current root (also written every ``policy.checkpoint_every`` entries)."""
        with self.store.transaction(exclusive=True) as tx:
            frontier = Frontier.from_json(json.loads(tx.locked("SELECT frontier FROM audit_head WHERE id = 1")[0]))
            existing = tx.one("SELECT tree_size, root_hash, at, key_id, signature FROM audit_checkpoints "
                              "WHERE tree_size = ?", [frontier.size])
            return Checkpoint(*existing) if existing else self._checkpoint(tx, frontier)

    def _checkpoint(self, tx: Transaction, frontier: Frontier) -> Checkpoint:
        unsigned = Checkpoint(frontier.size, frontier.root().hex(), now(), self.keys.key_id, "")
        signed = Checkpoint(**{**asdict(unsigned), "signature": self.keys.signing.sign(unsigned.message()).hex()})
        tx.run("INSERT INTO audit_checkpoints VALUES (?, ?, ?, ?, ?)",
               [signed.tree_size, signed.root_hash, signed.at, signed.key_id, signed.signature])
        return signed

    # ------------------------------------------------------------------ reading
    def entries(self, *, since: str | None = None, until: str | None = None, actor: str | None = None,
                action: str | None = None, org_id: str | None = None, outcome: str | None = None,
                limit: int = 1000) -> list[Entry]:
        """Entries matching every filter given (UTC ISO times; newest first), at most ``limit``."""
        conditions, params = [], []
        for column, value in (("at >= ?", since), ("at < ?", until), ("actor = ?", actor), ("action = ?", action),
                              ("org_id = ?", org_id), ("outcome = ?", outcome)):
            if value:
                conditions.append(column)
                params.append(value)
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        with self.store.transaction() as tx:
            rows = tx.rows(f"SELECT {', '.join(FIELDS)} FROM audit {where} ORDER BY seq DESC LIMIT ?",
                           [*params, int(limit)])
        return [Entry(*row) for row in rows]

    def to_csv(self, entries: list[Entry]) -> str:
        """``entries`` as CSV (UTF-8, header row), for the auditor's export."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(FIELDS)
        for entry in entries:
            writer.writerow([getattr(entry, f) for f in FIELDS])
        return out.getvalue()

    def checkpoints(self) -> list[Checkpoint]:
        with self.store.transaction() as tx:
            rows = tx.rows("SELECT tree_size, root_hash, at, key_id, signature FROM audit_checkpoints ORDER BY tree_size")
        return [Checkpoint(*row) for row in rows]

    def _rows(self, batch: int = 20000) -> Iterator[tuple]:
        last = -1
        while True:
            with self.store.transaction() as tx:
                rows = tx.rows(f"SELECT {', '.join(FIELDS)}, leaf_hash, mac FROM audit WHERE seq > ? "
                               "ORDER BY seq LIMIT ?", [last, batch])
            if not rows:
                return
            yield from rows
            last = rows[-1][0]

    # ------------------------------------------------------------------ verifying
    def verify(self, public_pem: str | None = None) -> Verification:
        """Re-read the log: seals, leaf hashes, sequence, checkpoint signatures and roots (see module doc).

        With ``public_pem`` only the public key is trusted (signatures and roots are checked;
        seals need the secret key and are checked when the log holds the key).
        """
        public = audit_keys.public_key(public_pem) if public_pem else self.keys.public
        checkpoints = self.checkpoints()
        for checkpoint in checkpoints:
            try:
                public.verify(bytes.fromhex(checkpoint.signature), checkpoint.message())
            except Exception:  # noqa: BLE001 - cryptography raises InvalidSignature or ValueError
                return Verification(0, len(checkpoints), 0, f"the checkpoint at tree size {checkpoint.tree_size} has "
                                    "an invalid signature (forged or edited)")
        roots = {c.tree_size: c.root_hash for c in checkpoints}
        last = checkpoints[-1].tree_size if checkpoints else 0
        frontier, expected = Frontier(), 0
        seal_key = None if public_pem else self.keys.seal
        append, digest = frontier.append, hmac.digest
        for row in self._rows():
            values, stored_leaf, seal = row[:10], row[10], row[11]
            if values[0] != expected:
                return Verification(expected, len(checkpoints), last,
                                    f"entry {expected} was deleted (the log jumps from {expected - 1} to {values[0]})",
                                    expected)
            try:
                data = _canonical(values)
            except TypeError:  # a value of the wrong type: only an edit can put it there
                data = b""
            leaf = leaf_hash(data)
            if not data or leaf.hex() != stored_leaf or (seal_key is not None and seal != digest(seal_key, data, "sha256").hex()):
                entry = Entry(*values)
                return Verification(expected, len(checkpoints), last,
                                    f"entry {entry.seq} ({entry.at}, {entry.actor}, {entry.action}) was edited: "
                                    "its content no longer matches its seal", entry.seq)
            append(leaf)
            expected += 1
            if expected in roots and frontier.root().hex() != roots[expected]:
                return Verification(expected, len(checkpoints), last,
                                    f"the log up to entry {expected - 1} differs from the checkpoint signed at "
                                    f"tree size {expected} (entries were rewritten)", expected - 1)
        if expected < last:
            return Verification(expected, len(checkpoints), last,
                                f"the log was truncated: it holds {expected} entries, the last checkpoint covers {last}; "
                                f"entry {expected} onwards is missing", expected)
        return Verification(expected, len(checkpoints), last, None)

    # ------------------------------------------------------------------ retention
    def archive(self, before: datetime, folder: Path) -> Path | None:
        """Write the entries older than ``before`` (UTC) to a gzipped JSON-lines file in ``folder``; they stay in the log."""
        cutoff = before.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        with self.store.transaction() as tx:
            rows = tx.rows(f"SELECT {', '.join(FIELDS)}, leaf_hash, mac FROM audit WHERE at < ? ORDER BY seq", [cutoff])
        if not rows:
            return None
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"audit-{rows[0][0]:09d}-{rows[-1][0]:09d}.jsonl.gz"
        with gzip.open(target, "wt", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(dict(zip((*FIELDS, "leaf_hash", "mac"), row)), ensure_ascii=False) + "\n")
        return target
