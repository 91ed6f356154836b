"""Timing of backups on a demo province lake (issue 14: incremental ≤ 10 % of the full backup's time).

Copies ``--lake`` (with its security store) to a scratch folder, then measures on the copy:

1. ``full``: :func:`carbonlib.ops.backup.create` into an empty repository;
2. ``incremental``: the same after appending ONE new day of telemetry for every device (the last
   day's readings shifted by one day), with ``ratio_to_full``;
3. ``verify``: :func:`carbonlib.ops.backup.verify` of both backups;
4. ``restore``: :func:`carbonlib.ops.backup.restore` of the newest backup into a new folder
   (files written, every table's checksum compared).

Prints JSON: seconds, bytes, peak RSS (MiB).  Run from the repository root:
``.venv/bin/python benchmarks/backup.py --lake /path/to/large/lake``.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing the package

import pandas as pd  # noqa: E402

from carbonlib.lake import Lake  # noqa: E402
from carbonlib.ops import backup  # noqa: E402
from carbonlib.settings import load_settings  # noqa: E402


def timed(func, *args, **kwargs):
    start = time.perf_counter()
    result = func(*args, **kwargs)
    return result, round(time.perf_counter() - start, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lake", type=Path, required=True, help="lake to copy and back up (left unchanged)")
    parser.add_argument("--scratch", type=Path, default=None, help="folder for the copy, repository and restore")
    args = parser.parse_args()
    source = args.lake.resolve()
    with tempfile.TemporaryDirectory(prefix="carbon-backup-bench-", dir=args.scratch) as scratch:
        work = Path(scratch)
        shutil.copytree(source, work / "lake")
        if source.with_name(source.name + "-security").is_dir():
            shutil.copytree(source.with_name(source.name + "-security"), work / "lake-security")
        settings = load_settings(lake=work / "lake")
        backup.generate_key(work / "backup.key")
        key = backup.load_key(work / "backup.key")
        repository = work / "repository"

        full, full_s = timed(backup.create, settings, repository, key)
        with Lake.open(settings) as lake:
            newest = lake.query(f"SELECT max(ts) AS ts FROM {lake.relation('telemetry')}").ts[0]
            day = lake.read("telemetry", where="ts > ?", params=[newest - pd.Timedelta(days=1)])
            lake.append("telemetry", day.assign(ts=day.ts + pd.Timedelta(days=1)))
        incremental, incremental_s = timed(backup.create, settings, repository, key)
        checked, verify_s = timed(backup.verify, repository, key)
        restored, restore_s = timed(backup.restore, repository, key, work / "restored")
        result = {
            "lake": str(source),
            "full": {"seconds": full_s, "files": len(full.entries), "bytes": full.size, "stored_bytes": full.new_bytes},
            "incremental_one_day": {"seconds": incremental_s, "rows_added": len(day), "stored_bytes": incremental.new_bytes,
                                    "ratio_to_full": round(incremental_s / full_s, 3)},
            "verify_both": {"seconds": verify_s, "objects": checked.objects, "bytes": checked.bytes, "ok": checked.ok},
            "restore": {"seconds": restore_s, "files": restored.files, "bytes": restored.bytes},
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
