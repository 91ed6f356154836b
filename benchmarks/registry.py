"""Speed of the credit registry (issue 13 targets: >= 1,000 registry operations/s sustained with every
invariant checked; an inclusion proof <= 10 ms; verification of a 1 M-transaction log <= 10 s).

In a scratch folder (no lake needed: the book of units stands alone):

1. ``operations``: ``--ops`` operations on :class:`carbonlib.registry.book.Registry`, each its own transaction
   with every invariant checked and its leaf appended to the log: a mix of transfer requests and acceptances
   (40 %), rejections (10 %), partial retirements (20 %), pledges and releases (20 %) and cancellations (10 %)
   between ``--orgs`` organisations, after one issuance per organisation; operations/s, and the reconciliation
   at the end;
2. ``log``: a log of ``--transactions`` leaves (the operations above, then synthetic retirement leaves appended
   in batches of 10,000 per transaction through the same :func:`carbonlib.registry.log.append`), then
   :func:`carbonlib.registry.log.verify` of the whole log (seconds), and inclusion and consistency proofs of
   random leaves read from the stored nodes (median and p95 ms);
3. peak RSS (MiB).

Prints JSON.  Run from the repository root: ``.venv/bin/python benchmarks/registry.py``.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing the package

from carbonlib.registry import Registry, log  # noqa: E402
from carbonlib.security.merkle import leaf_hash, verify_consistency, verify_inclusion  # noqa: E402
from carbonlib.security.store import now  # noqa: E402
from carbonlib.settings import load_settings  # noqa: E402


def operations(registry: Registry, orgs: list[str], count: int, rng: random.Random) -> float:
    """Run ``count`` mixed operations; their rate (operations/s)."""
    done, started = 0, time.perf_counter()
    pledges: list[tuple[str, str]] = []
    while done < count:
        source, target = rng.sample(orgs, 2)
        project = f"P-{source}"
        roll = rng.random()
        if roll < 0.4:
            request = registry.request_transfer(source, target, project, 2025, rng.randint(1, 50))
            registry.accept_transfer(request["transfer_id"], target)
            done += 2
        elif roll < 0.5:
            request = registry.request_transfer(source, target, project, 2025, rng.randint(1, 50))
            registry.reject_transfer(request["transfer_id"], target)
            done += 2
        elif roll < 0.7:
            registry.retire(source, project, 2025, rng.randint(1, 20), beneficiary=source, purpose="voluntary")
            done += 1
        elif roll < 0.9:
            if pledges and rng.random() < 0.5:
                pledge, holder = pledges.pop()
                registry.release(pledge, holder)
            else:
                pledges.append((registry.pledge(source, project, 2025, rng.randint(1, 30), pledgee="Bank")["pledge_id"],
                                source))
            done += 1
        else:
            registry.cancel(source, project, 2025, rng.randint(1, 5), reason="benchmark")
            done += 1
    return done / (time.perf_counter() - started)


def grow_log(registry: Registry, total: int, batch: int = 10_000) -> float:
    """Append synthetic retirement leaves until the log holds ``total``; seconds taken."""
    started = time.perf_counter()
    size = len(registry.log_rows(-1)) if total else 0
    while size < total:
        with registry.store.transaction(exclusive=True) as tx:
            for _ in range(min(batch, total - size)):
                log.append(tx, registry.keys, now(), "retire", f"RTM-bench-{size}",
                           {"project_id": "P-bench", "vintage": 2025, "quantity": 1, "ranges": [[size, size]],
                            "beneficiary": "benchmark", "purpose": "voluntary", "cap_year": None})
                size += 1
    return time.perf_counter() - started


def proofs(registry: Registry, size: int, samples: int, rng: random.Random) -> dict:
    """Inclusion and consistency proofs of random leaves / sizes, read from stored nodes and verified (ms)."""
    point = log.checkpoint(registry.store, registry.keys)
    root = bytes.fromhex(point.root_hash)
    inclusion, consistency = [], []
    for _ in range(samples):
        index = rng.randrange(size)
        started = time.perf_counter()
        body, path = log.inclusion(registry.store, index, size)
        inclusion.append((time.perf_counter() - started) * 1000)
        assert verify_inclusion(leaf_hash(body.encode()), index, size, path, root)
    for _ in range(max(1, samples // 10)):
        old = rng.randrange(1, size)
        started = time.perf_counter()
        path = log.consistency(registry.store, old, size)
        consistency.append((time.perf_counter() - started) * 1000)
        with registry.store.transaction() as tx:  # the old root, as a published checkpoint would hold it
            old_root = _root_of(tx, old)
        assert verify_consistency(old, size, old_root, root, path)

    def summary(times: list[float]) -> dict:
        ordered = sorted(times)
        return {"median_ms": round(statistics.median(ordered), 3), "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 3)}

    return {"inclusion": summary(inclusion), "consistency": summary(consistency)}


def _root_of(tx, size: int) -> bytes:
    from carbonlib.security.merkle import stored_root

    return stored_root(lambda level, index: bytes(tx.one("SELECT hash FROM log_nodes WHERE level = ? AND idx = ?",
                                                         [level, index])[0]), 0, size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=20_000)
    parser.add_argument("--orgs", type=int, default=50)
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--proofs", type=int, default=500)
    parser.add_argument("--seed", type=int, default=2364)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="carbon-registry-bench-") as scratch:
        settings = load_settings(lake=Path(scratch) / "lake")
        with Registry.open(settings) as registry:
            orgs = [f"E{n:04d}" for n in range(args.orgs)]
            for org in orgs:
                registry.open_accounts(org)
                registry.issue(f"P-{org}", 2025, 10_000_000, proponent=org, verification_ref=f"V-{org}")
            rate = operations(registry, orgs, args.ops, rng)
            table = registry.reconcile()
            reconciled = bool(table.ok.all())
            grow_seconds = grow_log(registry, args.transactions)
            log.checkpoint(registry.store, registry.keys)
            started = time.perf_counter()
            check = log.verify(registry.store, registry.keys)
            verify_seconds = time.perf_counter() - started
            proof_times = proofs(registry, check.transactions, args.proofs, rng)
    print(json.dumps({
        "operations": {"count": args.ops, "per_s": round(rate, 1), "orgs": args.orgs, "reconciled": reconciled,
                       "target_per_s": 1000},
        "log": {"transactions": check.transactions, "intact": check.ok, "append_batched_s": round(grow_seconds, 1),
                "verify_s": round(verify_seconds, 2), "verify_target_s": 10, **proof_times,
                "inclusion_target_ms": 10},
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }, indent=2))


if __name__ == "__main__":
    main()
