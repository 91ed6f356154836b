"""Speed of the ledger workflow on a demo province lake (issue 12 targets: import >= 20,000 rows/s with full
validation; approving one entry and seeing the refreshed account <= 1 s on the large demo lake).

Copies (or builds, ``--lake``) a demo lake of ``--scale`` (default small), provisions a data officer for
``--rows`` entries over all enterprises of the province and two reviewers, then measures

1. ``import``: :func:`carbonlib.ledger.bulk.import_file` of a CSV of ``--rows`` rows (monthly fuel, heat and
   fugitive entries outside the demo's years, spread over every enterprise and site), reading and every check
   included: seconds and rows/s; then, apart, the accounts refresh that the import triggers by default (the
   entries' periods, here 12 new years, become pending); and, as a baseline measured in the same run, the bare
   lake writer appending the same rows (``writer_only``);
2. ``approve``: :func:`carbonlib.ledger.service.approve` of one imported entry, including the accounts refresh
   it triggers, and the time until :func:`carbonlib.accounting.accounts.account_figures` of that org and month
   shows the approved figure (median of ``--repeat`` entries);
3. peak RSS (MiB).

The lake is copied to a scratch folder first (the benchmark writes).  Prints JSON.  Run from the repository
root: ``.venv/bin/python benchmarks/ledger.py --scale small --rows 50000``.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing the package

from carbonlib.accounting import accounts, views  # noqa: E402
from carbonlib.demo import build_demo  # noqa: E402
from carbonlib.lake import Lake  # noqa: E402
from carbonlib.ledger import bulk, catalogue, service  # noqa: E402
from carbonlib.security import Security  # noqa: E402
from carbonlib.settings import load_settings  # noqa: E402

PASSWORD = "Bench-ledger-2364!"


def _rows(lake: Lake, orgs: list[str], n: int) -> pd.DataFrame:
    """``n`` distinct entries: months of 2012-2023 and of 2026 (the demo's years left alone), every fuel, heat
    carrier and fugitive gas the accounts compute, cycling over the orgs."""
    kinds = [(c, t, catalogue.units(lake, c, t)[0]) for c in ("stationary_combustion", "purchased_heat", "fugitive")
             for t in catalogue.activity_types(lake, c)]
    months = [f"{y}-{m:02d}" for y in range(2012, 2024) for m in range(1, 13)] + [f"2026-{m:02d}" for m in range(1, 12)]
    if n > len(orgs) * len(months) * len(kinds):
        raise SystemExit(f"--rows {n} is more than the {len(orgs) * len(months) * len(kinds)} distinct entries "
                         "this lake's orgs allow")
    out = []
    for i in range(n):
        org, slot = orgs[i % len(orgs)], i // len(orgs)
        kind, month = kinds[slot % len(kinds)], months[slot // len(kinds)]
        out.append([org, month, kind[0], kind[1], f"{1 + i % 90}", kind[2], f"INV-{i:06d}", ""])
    return pd.DataFrame(out, columns=list(bulk.COLUMNS))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=["small", "medium", "large"], default="small")
    parser.add_argument("--lake", type=Path, help="demo lake to copy (built there if absent); default "
                                                  "/tmp/carbon-bench-<scale>")
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    source = load_settings(lake=args.lake or Path(f"/tmp/carbon-bench-{args.scale}"))
    if not (Path(source.lake) / "catalog.sqlite").exists():
        build_demo(source, args.scale, progress=False)
    scratch = Path(tempfile.mkdtemp(prefix="carbon-bench-ledger-"))
    shutil.copytree(source.lake, scratch / "lake")
    security_folder = Path(source.lake).with_name(Path(source.lake).name + "-security")
    if security_folder.is_dir():
        shutil.copytree(security_folder, scratch / "lake-security")
    settings = load_settings(lake=scratch / "lake")
    out: dict = {"scale": args.scale, "rows": args.rows}
    try:
        with Lake.open(settings, read_only=True) as lake:
            tree = views.org_tree(lake)
            leaves = tree[tree.level.isin(["enterprise", "site"])].org_id.tolist()
            frame = _rows(lake, leaves, args.rows)
        root = tree.org_id.iloc[0]
        with Security.open(settings) as security:
            security.provision("bench-officer", "bench officer", grants=[("data_officer", root)], password=PASSWORD,
                               must_change=False)
            security.provision("bench-reviewer", "bench reviewer", grants=[("reviewer", root)], password=PASSWORD,
                               must_change=False)
            officer = security.sessions.login("bench-officer", PASSWORD).principal
            reviewer = security.sessions.login("bench-reviewer", PASSWORD).principal
            path = scratch / "ledger.csv"
            frame.to_csv(path, index=False)
            start = time.perf_counter()
            result = bulk.import_file(security, officer, settings, path, refresh=False)
            seconds = time.perf_counter() - start
            out["import"] = {"seconds": round(seconds, 2), "rows_per_s": round(result.entries / seconds),
                             "entries": result.entries, "target_rows_per_s": 20_000}
            with Lake.open(settings) as lake:
                start = time.perf_counter()
                accounts.refresh_accounts(lake)  # what import_file does next by default: the pending periods
                out["import"]["accounts_refresh_s"] = round(time.perf_counter() - start, 2)
            waiting = service.listing(security, reviewer, settings, status="submitted")
            waiting = waiting[waiting.author == "bench-officer"]
            times, seen = [], []
            for entry_id in waiting.entry_id.head(args.repeat):
                start = time.perf_counter()
                row = service.approve(security, reviewer, settings, entry_id)
                times.append(time.perf_counter() - start)
                with Lake.open(settings, read_only=True) as lake:
                    figures = accounts.account_figures(lake, row.org_id, f"{pd.Timestamp(row.period_start):%Y-%m}")
                seen.append(time.perf_counter() - start)
                assert len(figures), "the approved entry's month has no figures"
            out["approve"] = {"median_s": round(statistics.median(times), 3), "max_s": round(max(times), 3),
                              "until_figures_median_s": round(statistics.median(seen), 3), "target_s": 1.0}
        with Lake.open(settings) as lake:  # baseline: the bare writer, same rows, no checks of the ledger's own
            typed = frame.assign(entry_id=[f"B-{i}" for i in range(len(frame))], period_start=pd.to_datetime(
                frame.period.str.cat(["-01"] * len(frame))).dt.date, amount=frame.amount.astype(float),
                author="bench", status="draft", entered_at=pd.Timestamp("2026-11-30"), reverses_entry_id=None,
                evidence_ref=frame.evidence_ref + "-B")
            typed["period_end"] = (pd.to_datetime(typed.period_start) + pd.offsets.MonthEnd(0)).dt.date
            typed = typed.drop(columns=["period", "comment"])
            start = time.perf_counter()
            lake.append("activity", typed, source="bench/writer")
            out["writer_only"] = {"seconds": round(time.perf_counter() - start, 2)}
        out["import"]["ratio_to_writer"] = round(out["import"]["seconds"] / out["writer_only"]["seconds"], 2)
        out["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
