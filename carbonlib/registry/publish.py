"""What the registry publishes: its mirror in the lake, and the files anyone can verify it with.

* :func:`mirror` appends the transactions not yet in the lake's ``credit_event`` table (one row per
  serial range moved: issue, accepted transfer, retirement, pledge, release, cancellation), each
  with its log number and leaf hash.  Idempotent: it starts after the last ``op_seq`` there.
* :func:`publish_files` writes the public disclosure's registry folder: the checkpoint key,
  every signed checkpoint, a consistency proof between each pair of consecutive checkpoints,
  every retirement's leaf with its inclusion proof in the latest checkpoint and its certificate
  (:mod:`carbonlib.registry.certificate`), and the public
  summary by project and vintage (no account detail).  :mod:`carbonlib.registry.verify` checks
  them with nothing but these files.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pandas as pd

from ..lake import Lake
from ..settings import Settings
from . import certificate, log
from .book import Registry, RegistryRefused

#: Owner of table ``credit_event``.
SERVICE = "registry"
PUBLIC_KEY = "registry-public-key.pem"
CHECKPOINTS = "checkpoints.json"
SUMMARY = "summary.csv"
_EVENT_TYPES = {"issue": "issue", "transfer": "transfer", "retire": "retire", "pledge": "pledge",
                "release": "release", "cancel": "cancel", "reversal": "cancel", "export": "export"}


def mirror_rows(rows: list[tuple[dict, str]], prev_hash: str) -> pd.DataFrame:
    """``credit_event`` rows of the log ``rows`` (body, leaf hash); ``prev_hash``: the leaf before the first."""
    out = []
    for body, leaf in rows:
        kind = body["kind"]
        if kind in _EVENT_TYPES:
            common = dict(project_id=body["project_id"], event_type=_EVENT_TYPES[kind],
                          event_time=datetime.fromisoformat(body["at"].rstrip("Z")), prev_hash=prev_hash, hash=leaf,
                          op_seq=body["seq"], purpose=body.get("purpose"), cap_year=body.get("cap_year"),
                          beneficiary=body.get("beneficiary"), price_cny=body.get("price_cny"))
            moves = [(body.get("vintage"), body.get("from_account"), body.get("to_account"), r)
                     for r in body.get("ranges", [])]
            moves += [(body["vintage"], None, body["buffer_account"], r) for r in body.get("buffer_ranges", [])]
            moves += [(int(v), body["from_account"], body["to_account"], r)
                      for v, ranges in body.get("ranges_by_vintage", {}).items() for r in ranges]
            for k, (vintage, source, target, (start, end)) in enumerate(moves, start=1):
                out.append(dict(event_id=f"{body['op_id']}-{k}", vintage=int(vintage), serial_start=start,
                                serial_end=end, quantity_tco2e=float(end - start + 1), from_account=source,
                                to_account=target, **common))
        prev_hash = leaf
    columns = ["event_id", "project_id", "event_type", "event_time", "vintage", "serial_start", "serial_end",
               "quantity_tco2e", "from_account", "to_account", "prev_hash", "hash", "op_seq", "purpose", "cap_year",
               "beneficiary", "price_cny"]
    frame = pd.DataFrame(out, columns=columns)
    return frame.astype({"cap_year": "Int32", "price_cny": "Float64", "op_seq": "Int64"})


class MirrorMismatch(ValueError):
    """The lake's ``credit_event`` rows were not published by this registry (a lake restored or copied without
    its registry, or the other way round); nothing was written."""


def mirror(lake: Lake, registry: Registry) -> int:
    """Append the registry transactions the lake's ``credit_event`` lacks; the number of rows written.

    MirrorMismatch when the lake's last mirrored transaction is not this registry's (its leaf hash differs)."""
    last = lake.query(f"SELECT op_seq, hash FROM {lake.relation('credit_event')} WHERE op_seq IS NOT NULL "
                      "ORDER BY op_seq DESC LIMIT 1")
    after = -1 if last.empty else int(last.op_seq[0])
    if after >= 0 and registry.leaf(after) != last.hash[0]:
        raise MirrorMismatch(f"the lake's credit_event rows up to registry transaction {after} were not published by "
                             f"the registry at {registry.store.location.display} (leaf hashes differ). Fix: open the "
                             "lake with its own registry (<lake>-registry, or CARBON_REGISTRY_STORE), or restore both "
                             "from the same backup")
    rows = registry.log_rows(after)
    frame = mirror_rows(rows, registry.leaf(after))
    if frame.empty:
        return 0
    lake.service_append(SERVICE, "credit_event", frame, source="registry")
    return len(frame)


def public_folder(settings: Settings) -> Path:
    """Where the registry's public files go by default: ``<lake>/public/registry/``."""
    return Path(settings.lake).resolve() / "public" / "registry"


def publish_files(registry: Registry, folder: Path) -> dict:
    """Write the public, verifiable files (see module doc) into ``folder``; what was written."""
    folder.mkdir(parents=True, exist_ok=True)
    latest = log.checkpoint(registry.store, registry.keys)
    points = log.checkpoints(registry.store)
    (folder / PUBLIC_KEY).write_text(registry.keys.public_pem())
    (folder / CHECKPOINTS).write_text(json.dumps([p.to_json() for p in points], indent=1))
    proofs = folder / "consistency"
    proofs.mkdir(exist_ok=True)
    for old, new in zip(points, points[1:]):
        path = proofs / f"{old.tree_size}-{new.tree_size}.json"
        if not path.exists():
            proof = log.consistency(registry.store, old.tree_size, new.tree_size)
            path.write_text(json.dumps({"old_size": old.tree_size, "new_size": new.tree_size,
                                        "proof": [h.hex() for h in proof]}))
    retired = registry.retirements()
    target = folder / "retirements"
    target.mkdir(exist_ok=True)
    for row in retired.itertuples():
        record = retirement_record(registry, row.retirement_id, int(row.op_seq), latest.tree_size)
        (target / f"{row.retirement_id}.json").write_text(json.dumps(record, ensure_ascii=False))
        (target / f"{row.retirement_id}.html").write_text(certificate.render(record, latest.to_json()))
    summary = public_summary(registry)
    summary.to_csv(folder / SUMMARY, index=False)
    return {"folder": str(folder), "tree_size": latest.tree_size if latest else 0, "checkpoints": len(points),
            "retirements": len(retired), "projects": int(summary.project_id.nunique()) if len(summary) else 0}


def retirement_record(registry: Registry, retirement_id: str, op_seq: int, tree_size: int) -> dict:
    """A retirement as published: its log leaf, index and inclusion proof in the tree of ``tree_size``."""
    body, proof = log.inclusion(registry.store, op_seq, tree_size)
    return {"retirement_id": retirement_id, "leaf": body, "index": op_seq, "tree_size": tree_size,
            "proof": [h.hex() for h in proof]}


def certificate_page(registry: Registry, retirement_id: str, *, sign: bool = True) -> str | None:
    """The certificate of ``retirement_id`` (:mod:`.certificate`) under the registry's newest checkpoint, signed
    now when ``sign`` (the operator's command); with ``sign=False`` (a read-only page) the newest existing
    checkpoint, and None while none covers the retirement yet.  RegistryRefused when there is no such retirement."""
    found = registry.retirements().set_index("retirement_id")
    if retirement_id not in found.index:
        raise RegistryRefused(f"retirement_id: no retirement {retirement_id!r} in the registry")
    seq = int(found.loc[retirement_id, "op_seq"])
    points = [log.checkpoint(registry.store, registry.keys)] if sign else log.checkpoints(registry.store)
    if not points or points[-1].tree_size <= seq:
        return None
    latest = points[-1]
    return certificate.render(retirement_record(registry, retirement_id, seq, latest.tree_size), latest.to_json())


def public_summary(registry: Registry) -> pd.DataFrame:
    """Per project and vintage: issued, outstanding (held, pledged and pending export together), retired,
    cancelled, buffer and exported credits; no account detail (the public observer view, clause 5.4)."""
    table = registry.reconcile()
    table["outstanding"] = table.held + table.pledged + table.pending_export
    return table[["project_id", "vintage", "issued", "outstanding", "retired", "cancelled", "buffer", "exported"]]
