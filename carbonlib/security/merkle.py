"""RFC 6962 Merkle trees: leaf and node hashes, roots, inclusion and consistency proofs.

The hashing is Certificate Transparency's (RFC 6962 section 2.1, kept in RFC 9162):
``leaf = SHA-256(0x00 || data)``, ``node = SHA-256(0x01 || left || right)``, and the tree
over n leaves splits at the largest power of two smaller than n, so an appended log keeps
every earlier tree as a prefix.  A log that publishes signed roots (checkpoints) lets anyone
holding a root check that an entry is in the log (inclusion proof) and that a later root
extends an earlier one without rewriting it (consistency proof), without trusting the log.

:class:`Frontier` keeps the roots of the perfect subtrees of an appended log, so appending
and taking the root cost O(log n).  Used by the audit log (:mod:`carbonlib.security.audit`)
and meant for any other verifiable log (the credit registry).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data)."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH of the leaf *hashes* ``leaves`` (the empty tree's root is SHA-256 of nothing)."""
    frontier = Frontier()
    for leaf in leaves:
        frontier.append(leaf)
    return frontier.root()


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(index, D[n]) of RFC 6962 section 2.1.1 over the leaf hashes ``leaves``."""
    if not 0 <= index < len(leaves):
        raise ValueError(f"leaf {index} is not in a tree of {len(leaves)} leaves")
    if len(leaves) == 1:
        return []
    k = _split(len(leaves))
    if index < k:
        return inclusion_proof(leaves[:k], index) + [root(leaves[k:])]
    return inclusion_proof(leaves[k:], index - k) + [root(leaves[:k])]


def consistency_proof(leaves: Sequence[bytes], old_size: int) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 6962 section 2.1.2: the tree of the first ``old_size`` leaves is a prefix."""
    if not 0 < old_size <= len(leaves):
        raise ValueError(f"no consistency proof from size {old_size} to size {len(leaves)}")
    return _subproof(old_size, leaves, True)


def _subproof(m: int, leaves: Sequence[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [root(leaves)]
    k = _split(n)
    if m <= k:
        return _subproof(m, leaves[:k], complete) + [root(leaves[k:])]
    return _subproof(m - k, leaves[k:], False) + [root(leaves[:k])]


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], expected_root: bytes) -> bool:
    """Whether ``proof`` shows leaf hash ``leaf`` at ``index`` in the tree of ``size`` with ``expected_root``.

    The verification algorithm of RFC 9162 section 2.1.3.2.
    """
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == expected_root


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    """Whether ``proof`` shows the tree (``new_size``, ``new_root``) extends (``old_size``, ``old_root``).

    The verification algorithm of RFC 9162 section 2.1.4.2.
    """
    if not 0 < old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # the old tree is a complete subtree: its root starts the path
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root


@dataclass
class Frontier:
    """The roots of the perfect subtrees of an appended log, largest first: O(log n) state.

    ``append`` adds a leaf hash; ``root`` is the RFC 6962 root of everything appended.
    Serialise with :meth:`to_json` / :meth:`from_json` to keep it beside the log.
    """

    size: int = 0
    nodes: list[bytes] = field(default_factory=list)

    def append(self, leaf: bytes) -> None:
        self.nodes.append(leaf)
        self.size += 1
        merges = (self.size & -self.size).bit_length() - 1  # trailing zero bits: complete subtrees to merge
        for _ in range(merges):
            right = self.nodes.pop()
            self.nodes[-1] = node_hash(self.nodes[-1], right)

    def root(self) -> bytes:
        if not self.nodes:
            return EMPTY_ROOT
        result = self.nodes[-1]
        for node in reversed(self.nodes[:-1]):
            result = node_hash(node, result)
        return result

    def to_json(self) -> dict:
        return {"size": self.size, "nodes": [n.hex() for n in self.nodes]}

    @classmethod
    def from_json(cls, data: dict) -> "Frontier":
        return cls(int(data["size"]), [bytes.fromhex(n) for n in data["nodes"]])


# ---------------------------------------------------------------------------- proofs from stored nodes
#: ``node(level, index)``: the stored root of the perfect subtree over leaves
#: ``[index * 2**level, (index + 1) * 2**level)`` (level 0: the leaf hashes).
NodeReader = Callable[[int, int], bytes]


def perfect_nodes(size: int, leaf: bytes, frontier: Frontier) -> list[tuple[int, int, bytes]]:
    """The perfect-subtree roots that appending ``leaf`` as leaf number ``size`` completes, as
    ``(level, index, hash)`` rows to store (the leaf itself at level 0); ``frontier`` is the log's
    frontier *before* the append and is not changed."""
    rows = [(0, size, leaf)]
    node, index, level = leaf, size, 0
    nodes = list(frontier.nodes)
    while index & 1:
        node = node_hash(nodes.pop(), node)
        index, level = index >> 1, level + 1
        rows.append((level, index, node))
    return rows


def stored_root(node: NodeReader, start: int, size: int) -> bytes:
    """MTH of the ``size`` leaves from ``start`` (``start`` a multiple of the split below) from stored nodes."""
    if size & (size - 1) == 0:
        level = size.bit_length() - 1
        return node(level, start >> level)
    k = _split(size)
    return node_hash(stored_root(node, start, k), stored_root(node, start + k, size - k))


def stored_inclusion_proof(node: NodeReader, index: int, size: int, start: int = 0) -> list[bytes]:
    """:func:`inclusion_proof` of leaf ``index`` in the tree of the first ``size`` leaves, from stored nodes:
    O(log² n) node reads instead of O(n) hashes."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
    if size == 1:
        return []
    k = _split(size)
    if index < k:
        return stored_inclusion_proof(node, index, k, start) + [stored_root(node, start + k, size - k)]
    return stored_inclusion_proof(node, index - k, size - k, start + k) + [stored_root(node, start, k)]


def stored_consistency_proof(node: NodeReader, old_size: int, new_size: int) -> list[bytes]:
    """:func:`consistency_proof` from tree size ``old_size`` to ``new_size``, from stored nodes."""
    if not 0 < old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to size {new_size}")
    return _stored_subproof(node, old_size, 0, new_size, True)


def _stored_subproof(node: NodeReader, m: int, start: int, n: int, complete: bool) -> list[bytes]:
    if m == n:
        return [] if complete else [stored_root(node, start, n)]
    k = _split(n)
    if m <= k:
        return _stored_subproof(node, m, start, k, complete) + [stored_root(node, start + k, n - k)]
    return _stored_subproof(node, m - k, start + k, n - k, False) + [stored_root(node, start, k)]
