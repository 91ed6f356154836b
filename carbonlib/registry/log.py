"""The registry's verifiable log: every registry transaction is one leaf of an RFC 6962 Merkle tree.

A leaf is the canonical JSON of the transaction (sorted keys, no spaces, UTF-8): its sequence
number, id, kind, UTC time and what it did (project, vintage, serial ranges, accounts, quantity
and the operation's own fields).  Each row is also sealed with HMAC-SHA256 under the registry's
secret key, and the perfect-subtree nodes are stored as they complete
(:func:`carbonlib.security.merkle.perfect_nodes`), so an inclusion or consistency proof reads
O(log² n) nodes however long the log.  Checkpoints ``(tree size, root)`` are signed with the
registry's Ed25519 key every :data:`CHECKPOINT_EVERY` transactions and on publication.

:func:`verify` re-reads the log and names the first transaction that was edited, deleted or
truncated; third parties check published checkpoints and proofs with
:mod:`carbonlib.registry.verify`, which needs only the published files.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import asdict, dataclass

from ..security import audit
from ..security import keys as signing
from ..security.merkle import (Frontier, leaf_hash, perfect_nodes, stored_consistency_proof,
                               stored_inclusion_proof)
from ..security.store import Store, Transaction, now

CHECKPOINT_FORMAT = "carbon-registry-checkpoint/v1"
CHECKPOINT_EVERY = 1000


def canonical(body: dict) -> bytes:
    """The bytes of a leaf: JSON, sorted keys, no spaces, non-ASCII kept, UTF-8."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class Checkpoint(audit.Checkpoint):
    """A signed ``(tree_size, root_hash)`` of the registry log (its own format line)."""

    FORMAT = CHECKPOINT_FORMAT

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class LogCheck:
    """What :func:`verify` found: ``problem`` names the first damaged transaction (None: intact)."""

    transactions: int
    checkpoints: int
    problem: str | None
    first_bad_seq: int | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def append(tx: Transaction, keys: signing.AuditKeys, at: str, kind: str, op_id: str, body: dict) -> dict:
    """Append one transaction done at ``at`` (UTC ISO text; in ``tx``, holding the log head's lock) and return
    its leaf body."""
    frontier = Frontier.from_json(json.loads(tx.locked("SELECT frontier FROM log_head WHERE id = 1")[0]))
    leaf_body = {**body, "seq": frontier.size, "op_id": op_id, "kind": kind, "at": at}
    data = canonical(leaf_body)
    leaf = leaf_hash(data)
    tx.run("INSERT INTO log VALUES (?, ?, ?, ?, ?, ?, ?)",
           [frontier.size, op_id, kind, leaf_body["at"], data.decode(), leaf.hex(),
            hmac.new(keys.seal, data, hashlib.sha256).hexdigest()])
    for level, index, node in perfect_nodes(frontier.size, leaf, frontier):
        tx.run("INSERT INTO log_nodes VALUES (?, ?, ?)", [level, index, node])
    frontier.append(leaf)
    tx.run("UPDATE log_head SET frontier = ? WHERE id = 1", [json.dumps(frontier.to_json())])
    if frontier.size % CHECKPOINT_EVERY == 0:
        _sign(tx, keys, frontier)
    return leaf_body


def _sign(tx: Transaction, keys: signing.AuditKeys, frontier: Frontier) -> Checkpoint:
    unsigned = Checkpoint(frontier.size, frontier.root().hex(), now(), keys.key_id, "")
    signed = Checkpoint(**{**asdict(unsigned), "signature": keys.signing.sign(unsigned.message()).hex()})
    tx.run("INSERT INTO log_checkpoints VALUES (?, ?, ?, ?, ?)",
           [signed.tree_size, signed.root_hash, signed.at, signed.key_id, signed.signature])
    return signed


def checkpoint(store: Store, keys: signing.AuditKeys) -> Checkpoint | None:
    """Sign the current root (None for an empty log); the existing checkpoint when the size is signed already."""
    with store.transaction(exclusive=True) as tx:
        frontier = Frontier.from_json(json.loads(tx.locked("SELECT frontier FROM log_head WHERE id = 1")[0]))
        if not frontier.size:
            return None
        existing = tx.one("SELECT tree_size, root_hash, at, key_id, signature FROM log_checkpoints WHERE tree_size = ?",
                          [frontier.size])
        return Checkpoint(*existing) if existing else _sign(tx, keys, frontier)


def checkpoints(store: Store) -> list[Checkpoint]:
    with store.transaction() as tx:
        rows = tx.rows("SELECT tree_size, root_hash, at, key_id, signature FROM log_checkpoints ORDER BY tree_size")
    return [Checkpoint(*row) for row in rows]


def _node_reader(tx: Transaction):
    def node(level: int, index: int) -> bytes:
        row = tx.one("SELECT hash FROM log_nodes WHERE level = ? AND idx = ?", [level, index])
        if row is None:
            raise LookupError(f"log node ({level}, {index}) is missing: the log was truncated or damaged")
        return bytes(row[0])
    return node


def inclusion(store: Store, seq: int, tree_size: int) -> tuple[str, list[bytes]]:
    """The leaf body (text) of transaction ``seq`` and its inclusion proof in the tree of ``tree_size``."""
    with store.transaction() as tx:
        row = tx.one("SELECT body FROM log WHERE seq = ?", [seq])
        if row is None:
            raise LookupError(f"no registry transaction number {seq}")
        return row[0], stored_inclusion_proof(_node_reader(tx), seq, tree_size)


def consistency(store: Store, old_size: int, new_size: int) -> list[bytes]:
    """The consistency proof from tree size ``old_size`` to ``new_size``."""
    with store.transaction() as tx:
        return stored_consistency_proof(_node_reader(tx), old_size, new_size)


def verify(store: Store, keys: signing.AuditKeys, batch: int = 50000) -> LogCheck:
    """Re-read the whole log: sequence, leaf hashes, seals, checkpoint signatures and roots (see module doc)."""
    signed = checkpoints(store)
    for point in signed:
        try:
            keys.public.verify(bytes.fromhex(point.signature), point.message())
        except Exception:  # noqa: BLE001 - cryptography raises InvalidSignature or ValueError
            return LogCheck(0, len(signed), f"the checkpoint at tree size {point.tree_size} has an invalid signature "
                            "(forged or edited)")
    roots = {point.tree_size: point.root_hash for point in signed}
    frontier, expected, seal = Frontier(), 0, keys.seal
    while True:
        with store.transaction() as tx:
            rows = tx.rows("SELECT seq, op_id, body, leaf_hash, mac FROM log WHERE seq >= ? ORDER BY seq LIMIT ?",
                           [expected, batch])
        if not rows:
            break
        for seq, op_id, body, stored_leaf, mac in rows:
            if seq != expected:
                return LogCheck(expected, len(signed), f"transaction {expected} was deleted (the log jumps from "
                                f"{expected - 1} to {seq})", expected)
            data = body.encode()
            leaf = leaf_hash(data)
            if leaf.hex() != stored_leaf or mac != hmac.digest(seal, data, "sha256").hex():
                return LogCheck(expected, len(signed), f"transaction {seq} ({op_id}) was edited: its content no "
                                "longer matches its seal", seq)
            frontier.append(leaf)
            expected += 1
            if expected in roots and frontier.root().hex() != roots[expected]:
                return LogCheck(expected, len(signed), f"the log up to transaction {expected - 1} differs from the "
                                f"checkpoint signed at tree size {expected} (transactions were rewritten)", expected - 1)
    last = signed[-1].tree_size if signed else 0
    if expected < last:
        return LogCheck(expected, len(signed), f"the log was truncated: it holds {expected} transactions, the last "
                        f"checkpoint covers {last}; transaction {expected} onwards is missing", expected)
    return LogCheck(expected, len(signed), None)
