"""Speed of file ingestion (issue 11: one AmeriFlux BASE site-year ≥ 200,000 values/s).

Takes the real AmeriFlux BASE file of US-Tw3 (fetched once from PyPI, see ``tests/field_data.py``),
cuts one site-year (2014, 17,520 half-hours) into a file of its own, and measures on a new empty
lake with one site and its tower:

1. ``read_ameriflux``: the analysts' reader on the site-year (all 48 variables);
2. ``pandas_read_csv``: plain ``pandas.read_csv`` of the same file, the floor any reader pays
   (``ratio_to_pandas`` of 1 means ingestion costs no more than reading);
3. ``ingest``: :func:`carbonlib.ingest.ingest_file` of the site-year (5 tower variables with their
   quality flags, typed, checked, written); ``values_per_s`` counts the cells it took in
   (readings + missing markers), ``readings_per_s`` the readings written;
4. ``ingest_again``: the same file again (everything is already there: idempotence costs).

Prints JSON.  Run from the repository root: ``.venv/bin/python benchmarks/ingest.py``.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import pandas as pd  # noqa: E402

from carbonlib.ingest import ingest_file, read_ameriflux  # noqa: E402
from carbonlib.lake import Lake  # noqa: E402
from carbonlib.settings import load_settings  # noqa: E402
from field_data import us_tw3_base_file  # noqa: E402

ORGS = [
    dict(org_id="P06", parent_id=None, level="province", kind="government", name_zh="加利福尼亚", name_en="California",
         region_code="060000"),
    dict(org_id="C0677", parent_id="P06", level="city", kind="government", name_zh="圣华金", name_en="San Joaquin",
         region_code="067700"),
    dict(org_id="D067701", parent_id="C0677", level="county", kind="government", name_zh="三角洲", name_en="Delta",
         region_code="067701"),
    dict(org_id="S067701-01", parent_id="D067701", level="site", kind="forest", name_zh="特威切尔",
         name_en="Twitchell", region_code="067701", area_ha=50.0, latitude=38.1159, longitude=-121.6467),
]


def timed(func, *args, **kwargs):
    start = time.perf_counter()
    result = func(*args, **kwargs)
    return result, time.perf_counter() - start


def site_year(source: Path, year: int, target: Path) -> Path:
    """The header lines and the half-hours of ``year`` of an AmeriFlux BASE file."""
    with open(source, encoding="utf-8") as handle, open(target, "w", encoding="utf-8") as out:
        for line in handle:
            if not line[:1].isdigit() or line.startswith(str(year)):
                out.write(line)
    return target


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="carbon-ingest-bench-") as scratch:
        work = Path(scratch)
        path = site_year(us_tw3_base_file(), 2014, work / "AMF_US-Tw3_BASE_HH_2014.csv")
        frame, read_s = timed(read_ameriflux, path)
        _, pandas_s = timed(pd.read_csv, path, skiprows=3)
        settings = load_settings(lake=work / "lake")
        with Lake.create(settings) as lake:
            lake.append("org", pd.DataFrame(ORGS).reindex(columns=[c for c in ORGS[-1]] + ["industry"]))
            lake.append("device", pd.DataFrame([dict(device_id="T-US-Tw3", org_id="S067701-01", kind="flux_tower",
                                                     model="IRGASON", serial_no="1", interval_s=1800,
                                                     installed_on=pd.Timestamp("2013-05-24").date())]))
            summary, ingest_s = timed(ingest_file, lake, path, device_id="T-US-Tw3")
            again, again_s = timed(ingest_file, lake, path, device_id="T-US-Tw3")
        values = summary.readings + summary.missing
        print(json.dumps({
            "file": path.name, "half_hours": len(frame), "variables": frame.shape[1],
            "read_ameriflux_s": round(read_s, 3), "pandas_read_csv_s": round(pandas_s, 3),
            "ingest_s": round(ingest_s, 3), "values": values, "readings": summary.readings,
            "inserted": summary.inserted, "rejected": summary.rejected,
            "values_per_s": round(values / ingest_s), "readings_per_s": round(summary.readings / ingest_s),
            "ingest_again_s": round(again_s, 3), "inserted_again": again.inserted,
            "ratio_to_pandas": round(ingest_s / pandas_s, 2),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }, indent=2))


if __name__ == "__main__":
    main()
