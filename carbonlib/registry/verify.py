"""Check the registry's published files without trusting the registry: only the files are needed.

A third party holding the published folder (:func:`carbonlib.registry.publish.publish_files`)
checks that

* every checkpoint is signed by the registry's published Ed25519 key;
* a retirement is in the log: its leaf (the retirement's own facts) hashes, with its inclusion
  proof, to the root of a signed checkpoint (RFC 6962 / RFC 9162 section 2.1.3);
* a later checkpoint extends an earlier one without rewriting it (consistency proof, section 2.1.4);
* a retirement certificate shows exactly the facts its embedded proof proves (:func:`verify_certificate`).

Any edit of a published leaf, proof or checkpoint makes its check fail with the file named.
This module reads no store and no lake: only the folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from ..security.merkle import leaf_hash, verify_consistency, verify_inclusion
from . import certificate
from .log import Checkpoint


class VerificationFailed(ValueError):
    """A published file does not check out; the message names the file and what failed."""


@dataclass
class FolderCheck:
    """What :func:`verify_folder` checked, and the failures (empty: all good)."""

    checkpoints: int = 0
    retirements: int = 0
    consistency_proofs: int = 0
    certificates: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def checkpoints(folder: Path) -> dict[int, dict]:
    """The signed checkpoints in ``folder`` by tree size, each signature checked with the published key."""
    key = serialization.load_pem_public_key((folder / "registry-public-key.pem").read_bytes())
    found = {}
    for point in json.loads((folder / "checkpoints.json").read_text()):
        _signed(key, point, "checkpoints.json")
        found[int(point["tree_size"])] = point
    return found


def _signed(key, point: dict, where: str) -> None:
    try:
        key.verify(bytes.fromhex(point["signature"]), Checkpoint(**point).message())
    except Exception:  # noqa: BLE001 - InvalidSignature, or a signature that is not hex
        raise VerificationFailed(f"{where}: the checkpoint at tree size {point['tree_size']} is not signed by the "
                                 "registry's key (forged or edited)") from None


def _included(record: dict, root_hash: str, where: str) -> dict:
    """The leaf's facts once the record's inclusion proof leads to ``root_hash``."""
    retirement_id = record["retirement_id"]
    facts = json.loads(record["leaf"])
    if facts.get("kind") != "retire" or facts.get("retirement_id") != retirement_id or facts.get("seq") != record["index"]:
        raise VerificationFailed(f"{where}: the leaf is not retirement {retirement_id} at index {record['index']}")
    proof = [bytes.fromhex(h) for h in record["proof"]]
    if not verify_inclusion(leaf_hash(record["leaf"].encode()), int(record["index"]), int(record["tree_size"]), proof,
                            bytes.fromhex(root_hash)):
        raise VerificationFailed(f"{where}: the inclusion proof does not lead to the signed root of tree size "
                                 f"{record['tree_size']} (the leaf or the proof was changed)")
    return facts


def verify_certificate(page: str, public_key_pem: bytes, where: str = "certificate") -> dict:
    """The retirement's facts once its certificate page (:mod:`carbonlib.registry.certificate`) checks out: the
    embedded checkpoint is signed by ``public_key_pem``, the embedded leaf is included in it, and the page is
    exactly the rendering of those facts (any edit of what it shows fails, naming ``where``)."""
    try:
        embedded = certificate.embedded_facts(page)
        record, point = embedded["record"], embedded["checkpoint"]
        _signed(serialization.load_pem_public_key(public_key_pem), point, where)
        if int(point["tree_size"]) != int(record["tree_size"]):
            raise VerificationFailed(f"{where}: the proof is for tree size {record['tree_size']}, the checkpoint "
                                     f"for {point['tree_size']}")
        facts = _included(record, point["root_hash"], where)
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, VerificationFailed):
            raise
        raise VerificationFailed(f"{where}: not a readable retirement certificate ({error})") from None
    if certificate.render(record, point) != page:
        raise VerificationFailed(f"{where}: the page differs from the proven facts of {record['retirement_id']} "
                                 "(what it shows was edited)")
    return facts


def verify_retirement(folder: Path, retirement_id: str) -> dict:
    """The retirement's facts (beneficiary, quantity, serial ranges …) once its inclusion proof holds."""
    path = folder / "retirements" / f"{retirement_id}.json"
    if not path.is_file():
        raise VerificationFailed(f"no published retirement {retirement_id} ({path})")
    item = json.loads(path.read_text())
    signed = checkpoints(folder).get(int(item["tree_size"]))
    if signed is None:
        raise VerificationFailed(f"{path.name}: no signed checkpoint of tree size {item['tree_size']}")
    return _included(item, signed["root_hash"], path.name)


def verify_consistency_file(folder: Path, old_size: int, new_size: int) -> None:
    """Check that checkpoint ``new_size`` extends checkpoint ``old_size`` (VerificationFailed if not)."""
    path = folder / "consistency" / f"{old_size}-{new_size}.json"
    if not path.is_file():
        raise VerificationFailed(f"no published consistency proof from {old_size} to {new_size} ({path})")
    signed = checkpoints(folder)
    if old_size not in signed or new_size not in signed:
        raise VerificationFailed(f"{path.name}: checkpoints {old_size} and {new_size} are not both signed")
    proof = [bytes.fromhex(h) for h in json.loads(path.read_text())["proof"]]
    if not verify_consistency(old_size, new_size, bytes.fromhex(signed[old_size]["root_hash"]),
                              bytes.fromhex(signed[new_size]["root_hash"]), proof):
        raise VerificationFailed(f"{path.name}: checkpoint {new_size} does not extend checkpoint {old_size} "
                                 "(the log was rewritten, or the proof was changed)")


def verify_folder(folder: Path) -> FolderCheck:
    """Check every checkpoint, every consistency proof and every retirement in ``folder``."""
    result = FolderCheck()
    try:
        result.checkpoints = len(checkpoints(folder))
    except (VerificationFailed, OSError, ValueError, KeyError) as error:
        result.failures.append(str(error))
        return result
    for path in sorted((folder / "consistency").glob("*.json")):
        old, new = (int(n) for n in path.stem.split("-"))
        try:
            verify_consistency_file(folder, old, new)
            result.consistency_proofs += 1
        except (VerificationFailed, ValueError, KeyError) as error:
            result.failures.append(str(error))
    for path in sorted((folder / "retirements").glob("*.json")):
        try:
            verify_retirement(folder, path.stem)
            result.retirements += 1
        except (VerificationFailed, ValueError, KeyError) as error:
            result.failures.append(str(error))
    key = (folder / "registry-public-key.pem").read_bytes()
    for path in sorted((folder / "retirements").glob("*.html")):
        try:
            verify_certificate(path.read_text(), key, path.name)
            result.certificates += 1
        except VerificationFailed as error:
            result.failures.append(str(error))
    return result
