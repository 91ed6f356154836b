"""Tests of the lake layer (carbonlib.lake): schema round-trips, idempotent and all-or-nothing
writes, snapshot pinning, concurrent writers in separate OS processes, clear errors for bad
input and for folders that are not (current) lakes, and the layering contract.
"""

from __future__ import annotations

import ast
import json
import math
import subprocess
import sys
import textwrap
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import carbonlib
from carbonlib.lake import (
    Lake,
    LakeError,
    NotALakeError,
    OwnedTableError,
    SchemaVersionError,
    SchemaViolation,
    WriteResult,
)
from carbonlib.lake.schema import ACTIVITY_UNITS, METRICS, SCHEMA_VERSION, TABLES, render_markdown
from carbonlib.settings import load_settings
from carbonlib.units import normalise_unit

# --------------------------------------------------------------------------------------------
# Sample rows: one small valid batch per table, with NULLs in nullable columns, in an order
# that satisfies the references (org before device, ...).
# --------------------------------------------------------------------------------------------

D = date
T = datetime

SAMPLES: dict[str, pd.DataFrame] = {
    "lake_meta": pd.DataFrame({"key": ["test_a", "test_b"], "value": ["1", "x y"]}),
    "metric": pd.DataFrame({
        "metric": ["test_metric"], "unit": ["kWh"], "description": ["a metric for the tests"],
        "min_valid": [-1.5], "max_valid": [1e6],
    }),
    "org": pd.DataFrame({
        "org_id": ["P43", "C4301", "E430121-01", "S430121-01"],
        "parent_id": [None, "P43", "C4301", "C4301"],
        "level": ["province", "city", "enterprise", "site"],
        "kind": ["government", "government", "enterprise", "forest"],
        "name_zh": ["湖南省", "长沙市", "长沙电厂1号有限公司", "长沙林场1号"],
        "name_en": ["Hunan", "Changsha", "Changsha Power Plant No.1", "Changsha Forest Farm No.1"],
        "region_code": ["430000", "430100", "430121", "430121"],
        "industry": [None, None, "power", None],
        "area_ha": [None, None, None, 1234.5],
        "latitude": [27.6, 28.23, None, 28.3],
        "longitude": [111.7, 112.94, None, 113.1],
        "opened_on": [None, None, D(2019, 3, 1), None],
    }),
    "org_change": pd.DataFrame({
        "change_id": ["OC-C4301-20260101-a1b2c3", "OC-E430121-01-20260301-d4e5f6"], "org_id": ["C4301", "E430121-01"],
        "change": ["rename", "move"], "effective_from": [D(2026, 1, 1), D(2026, 3, 1)],
        "name_zh": ["长沙市（新）", None], "name_en": ["Changsha (new)", None], "parent_id": [None, "P43"],
        "reason": ["decree 12", "restructuring"], "changed_by": ["reviewer-p43"] * 2,
        "recorded_at": [T(2025, 12, 1, 2), T(2026, 2, 1, 3)],
    }),
    "device": pd.DataFrame({
        "device_id": ["M-1", "T-1"],
        "org_id": ["E430121-01", "S430121-01"],
        "kind": ["electricity_meter", "flux_tower"],
        "model": ["DTSD1352", "IRGASON-EC100"],
        "serial_no": ["SN1", "SN2"],
        "interval_s": [3600, 1800],
        "installed_on": [D(2024, 11, 1), D(2024, 12, 31)],
        "vendor": ["Holley Metering", None],
        "latitude": [28.3, 28.31],
        "longitude": [113.1, None],
        "calibration_due": [D(2025, 11, 1), None],
    }),
    "device_event": pd.DataFrame({
        "event_id": ["M-1-inst", "T-1-cal"],
        "device_id": ["M-1", "T-1"],
        "event_type": ["installed", "calibrated"],
        "event_time": [T(2024, 11, 1, 2), T(2025, 3, 1, 1, 30, 15)],
        "actor": ["installer", "metrology institute"],
        "note": [None, "annual verification"],
        "serial_no": [None, "SN2"],
        "model": [None, "IRGASON-EC100"],
        "calibration_due": [None, D(2026, 3, 31)],
    }),
    "alert_event": pd.DataFrame({
        "event_id": ["e1", "e2"],
        "alert_id": ["silent:M-1:20250201T000000Z", "silent:M-1:20250201T000000Z"],
        "rule": ["silent", "silent"],
        "kind": ["device_silent", "device_silent"],
        "subject": ["M-1", "M-1"],
        "org_id": ["E430121-01", "E430121-01"],
        "severity": ["warning", "warning"],
        "event_type": ["opened", "acknowledged"],
        "state": ["active", "acknowledged"],
        "level": np.array([0, 0], dtype=np.int32),
        "event_time": [T(2025, 2, 1, 0), T(2025, 2, 1, 0, 20)],
        "actor": ["scheduler", "operator"],
        "facts": ['{"silent_h": 3.0}', '{"silent_h": 3.0}'],
        "note": [None, "crew on the way\nETA 2 h"],
    }),
    "telemetry": pd.DataFrame({
        "device_id": ["M-1", "M-1", "T-1"],
        "metric": ["electricity_import", "electricity_import", "NEE"],
        "ts": [T(2025, 1, 1, 0), T(2025, 1, 1, 1), T(2025, 7, 1, 4, 30)],
        "value": [812.5, 0.0, -12.25],
        "qc": np.array([0, 1, 2], dtype=np.uint8),
    }),
    "telemetry_reject": pd.DataFrame({
        "received_at": [T(2025, 2, 1, 0, 0, 0, 123000)],
        "source": ["gw/2025-01"],
        "row_number": np.array([7], dtype=np.int64),
        "field": ["value"],
        "reason": ["outside the metric's plausible range"],
        "payload": ['{"device_id":"M-1","value":-3.0}'],
    }),
    "activity": pd.DataFrame({
        "entry_id": ["A-1", "A-1-R"],
        "org_id": ["E430121-01", "E430121-01"],
        "period_start": [D(2025, 1, 1), D(2025, 1, 1)],
        "period_end": [D(2025, 1, 31), D(2025, 1, 31)],
        "category": ["purchased_electricity", "purchased_electricity"],
        "activity_type": ["grid", "grid"],
        "amount": [123.456, -123.456],
        "unit": ["MWh", "MWh"],
        "evidence_ref": ["INV-1", "INV-1-COR"],
        "author": ["data officer", "data officer"],
        "status": ["approved", "submitted"],
        "entered_at": [T(2025, 2, 5, 2), T(2025, 2, 25, 2)],
        "reverses_entry_id": [None, "A-1"],
        "ncv": [None, None],
        "carbon_content": [None, None],
        "oxidation": [None, None],
    }),
    "activity_review": pd.DataFrame({
        "review_id": ["A-1:r001", "A-1:r002"],
        "entry_id": ["A-1", "A-1"],
        "event": ["submitted", "returned"],
        "actor": ["officer-e430121-01", "reviewer-d430121"],
        "event_time": [T(2025, 2, 5, 2), T(2025, 2, 8, 3, 15)],
        "comment": [None, "which meter?\nattach its photo"],
        "related_entry_id": [None, None],
    }),
    "activity_evidence": pd.DataFrame({
        "entry_id": ["A-1"],
        "sha256": ["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"],
        "filename": ["发票 INV-1.pdf"],
        "media_type": ["application/pdf"],
        "size_bytes": [48213],
        "kind": ["invoice"],
        "attached_by": ["officer-e430121-01"],
        "attached_at": [T(2025, 2, 5, 2)],
    }),
    "emission_factor": pd.DataFrame({
        "factor_id": ["grid:national:2022", "ncv:coal"],
        "kind": ["grid", "ncv"],
        "subject": ["national", "bituminous_coal"],
        "series": ["MEE", "gbt2589"],
        "data_year": [2022, None],
        "value": [0.5366, 20.908],
        "unit": ["tCO2/MWh", "GJ/t"],
        "source": ["MEE 2024", "GB/T 2589"],
        "verified": [True, False],
        "effective_year": [None, 2026],
        "uncertainty_pct": [2.0, None],
    }),
    "gwp": pd.DataFrame({  # gases the package does not seed (a new lake holds the packaged GWPs)
        "gas": ["HFC-41", "HFC-365mfc"], "assessment": ["AR5", "AR6"], "value": [116.0, 914.0],
        "source": ["IPCC AR5", "IPCC AR6"],
    }),
    "species_parameter": pd.DataFrame({
        "species_group": ["chinese_fir", "bamboo"],
        "name_zh": ["杉木", "竹"],
        "latin_name": ["Cunninghamia lanceolata", None],
        "volume_based": [True, False],
        "wood_density": [0.307, None],
        "bef": [1.634, None],
        "root_shoot": [0.246, None],
        "carbon_fraction": [0.52, 0.5],
        "source": ["IPCC", "IPCC"],
        "verified": [True, False],
    }),
    "forest_stand": pd.DataFrame({
        "stand_id": ["S-ST01"], "org_id": ["S430121-01"], "species_group": ["chinese_fir"],
        "area_ha": [120.25], "origin": ["planted"], "established_year": [1998],
        "boundary_wkt": ["POLYGON((113.1 28.2, 113.11 28.2, 113.11 28.21, 113.1 28.21, 113.1 28.2))"],
    }),
    "survey_plot": pd.DataFrame({
        "plot_id": ["S-ST01-P1", "S-ST01-P1"], "stand_id": ["S-ST01", "S-ST01"],
        "survey_date": [D(2020, 10, 10), D(2025, 10, 10)], "plot_area_ha": [0.0667, 0.0667], "surveyor": ["team 1", "team 2"],
    }),
    "survey_tree": pd.DataFrame({
        "plot_id": ["S-ST01-P1", "S-ST01-P1"], "survey_date": [D(2020, 10, 10), D(2025, 10, 10)], "tree_no": [1, 1],
        "species_group": ["chinese_fir", "chinese_fir"], "dbh_cm": [14.2, 16.0], "height_m": [11.5, 12.7],
        "volume_m3": [0.0923, 0.1234],
    }),
    "cap": pd.DataFrame({
        "org_id": ["E430121-01"], "year": [2025], "cap_tco2e": [1.5e6], "source": ["allocation notice"],
    }),
    "cap_request": pd.DataFrame({
        "request_id": ["CR-E430121-01-2025-a1b2c3", "CR-E430121-01-2025-d4e5f6"], "org_id": ["E430121-01"] * 2,
        "year": [2025, 2025], "kind": ["extra_allowance", "allocation_adjustment"], "amount_tco2e": [1000.0, -200.0],
        "reason": ["second kiln line\ncommissioned in June", "production data corrected"],
        "evidence_ref": ["DRC-2025-118", "DRC-2025-200"], "requested_by": ["officer-e430121-01", "reviewer-p43"],
        "requested_at": [T(2025, 7, 1, 2), T(2025, 8, 1, 3)],
    }),
    "cap_decision": pd.DataFrame({
        "request_id": ["CR-E430121-01-2025-a1b2c3"], "decision": ["granted"], "amount_tco2e": [800.0],
        "decided_by": ["reviewer-d430121"], "decided_at": [T(2025, 7, 9, 2)], "comment": ["the line ran from July"],
    }),
    "credit_project": pd.DataFrame({
        "project_id": ["PRJ-1"], "org_id": ["S430121-01"], "name_zh": ["碳汇造林项目"], "name_en": ["Afforestation project"],
        "project_type": ["afforestation"], "methodology": ["CCER-14-001-V01"], "status": ["registered"],
        "crediting_start": [D(2023, 1, 1)], "crediting_end": [D(2042, 12, 31)], "estimated_annual_tco2e": [5000.0],
    }),
    "project_stand": pd.DataFrame({"project_id": ["PRJ-1"], "stand_id": ["S-ST01"]}),
    "project_event": pd.DataFrame({
        "event_id": ["PRJ-1-E1", "PRJ-1-E2"], "project_id": ["PRJ-1", "PRJ-1"], "event_type": ["initiated", "validated"],
        "event_date": [D(2023, 3, 1), D(2023, 6, 29)], "actor": ["S430121-01", "VB-07"], "note": [None, "plan checked"],
    }),
    "credit_event": pd.DataFrame({
        "event_id": ["PRJ-1-I2025", "PRJ-1-R2025"], "project_id": ["PRJ-1", "PRJ-1"], "event_type": ["issue", "retire"],
        "event_time": [T(2026, 4, 15, 8), T(2026, 9, 30, 8)], "vintage": [2025, 2025],
        "serial_start": np.array([1, 1], dtype=np.int64), "serial_end": np.array([4000, 1000], dtype=np.int64),
        "quantity_tco2e": [4000.0, 1000.0], "from_account": [None, "ACC-B"], "to_account": ["ACC-A", None],
        "prev_hash": ["", "abc"], "hash": ["abc", "def"], "op_seq": np.array([0, 1], dtype=np.int64),
        "purpose": [None, "compliance"], "cap_year": pd.array([None, 2025], dtype="Int32"), "beneficiary": [None, "B"],
        "price_cny": [None, 58.0],
    }),
    "carbon_price": pd.DataFrame({
        "market": ["CEA", "CCER"], "day": [D(2025, 1, 2), D(2025, 1, 2)], "close_cny": [97.5, 80.1], "volume_t": [1e5, 2e3],
    }),
    "telemetry_daily": pd.DataFrame({
        "device_id": ["M-1", "T-1"], "metric": ["electricity_import", "NEE"], "day": [D(2025, 1, 1), D(2025, 7, 1)],
        "n": np.array([24, 41], dtype=np.int64), "total": [19500.0, -120.5], "mean": [812.5, -2.94],
        "minimum": [0.0, -25.0], "maximum": [900.0, 8.5], "good_share": [1.0, 0.75],
        "last_ts": [T(2025, 1, 1, 23), T(2025, 7, 1, 23, 30)],
    }),
    "report_run": pd.DataFrame({
        "run_id": ["R-1", "R-2"], "kind": ["monthly", "annual"], "org_id": ["E430121-01", "P43"],
        "period": ["2025-10", "2025"], "snapshot_id": np.array([3, 4], dtype=np.int64), "status": ["ok", "failed"],
        "started_at": [T(2025, 11, 1, 1), T(2026, 1, 5, 1)], "seconds": [12.5, 3.0],
        "notebook_path": ["out/R-1.ipynb", None], "html_path": ["out/R-1.html", None], "table_path": ["out/R-1.xlsx", None],
        "figures_sha256": ["ab" * 32, None], "error": [None, "cell 4: KeyError"],
    }),
    "account": pd.DataFrame({
        "org_id": ["E430121-01"], "period": ["2025"], "period_start": [D(2025, 1, 1)], "period_end": [D(2025, 12, 31)],
        "method_version": ["v1"], "item": ["net"], "value": [-12.5], "unit": ["tCO2e"],
        "basis": ["grid=mee:2022; gwp=AR5"], "snapshot_id": np.array([3], dtype=np.int64), "computed_at": [T(2026, 1, 2, 3, 4, 5)],
        "ci95_low": [-14.0], "ci95_high": [-11.0], "uncertainty": ["95 % interval, IPCC 2006 Vol.1 Ch.3 Approach 1"],
    }),
}


def test_samples_cover_every_table():
    assert set(SAMPLES) == set(TABLES)
    for name, frame in SAMPLES.items():
        assert list(frame.columns) == TABLES[name].column_names, name


def write_samples(lake: Lake, names=None) -> dict[str, WriteResult]:
    """Write the sample batches; a service-owned table is written as its service (the public writer refuses it)."""
    written = {}
    for name in SAMPLES if names is None else names:
        owner = TABLES[name].owner
        written[name] = (lake.service_append(owner, name, SAMPLES[name], source="test") if owner
                         else lake.append(name, SAMPLES[name], source="test"))
    return written


def _rows(lake: Lake, name: str, snapshot=None) -> int:
    return int(lake.query(f"SELECT count(*) AS n FROM {lake.relation(name, snapshot)}").n[0])


def _sample_where(name: str) -> tuple[str, list]:
    """WHERE clause selecting exactly the sample's rows (lake_meta and metric hold other rows)."""
    key = TABLES[name].key[0]
    values = SAMPLES[name][key].tolist()
    return f"{key} IN ({', '.join('?' * len(values))})", values


# Expected pandas dtype of a column read back, by SQL type (no NULL / with NULLs).
_NUMERIC_DTYPES = {
    "DOUBLE": ("float64", "float64"),
    "INTEGER": ("int32", "Int32"),
    "BIGINT": ("int64", "Int64"),
    "UTINYINT": ("uint8", "UInt8"),
    "BOOLEAN": ("bool", "boolean"),
}


def _is_null(value) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def _check_column(name: str, col, got: pd.Series, sent: pd.Series) -> None:
    where = f"{name}.{col.name} ({col.type})"
    assert len(got) == len(sent), where
    nulls = sent.map(_is_null).to_numpy()
    assert got.map(_is_null).to_numpy().tolist() == nulls.tolist(), f"{where}: NULLs not preserved"
    if col.type == "VARCHAR":
        assert pd.api.types.is_string_dtype(got) or got.isna().all(), f"{where}: dtype {got.dtype}"
        assert got[~nulls].tolist() == sent[~nulls].tolist(), where
    elif col.type in ("TIMESTAMP", "DATE"):
        # timestamps are UTC-naive datetime64; dates come back as midnight datetime64
        assert pd.api.types.is_datetime64_dtype(got), f"{where}: dtype {got.dtype}"
        assert getattr(got.dtype, "tz", None) is None, f"{where}: should be tz-naive (UTC)"
        expected = pd.to_datetime(sent).tolist()
        assert got.tolist() == expected, where
        if col.type == "DATE":
            assert (got[~nulls] == got[~nulls].dt.normalize()).all(), where
    else:
        plain, nullable = _NUMERIC_DTYPES[col.type]
        assert str(got.dtype) == (nullable if nulls.any() else plain), f"{where}: dtype {got.dtype}"
        got_values = [None if _is_null(v) else v for v in got.tolist()]
        sent_values = [None if _is_null(v) else v for v in sent.tolist()]
        assert got_values == sent_values, where


@pytest.fixture(scope="module")
def sample_lake(tmp_path_factory):
    """A lake holding every sample batch, and the write results."""
    settings = load_settings(lake=tmp_path_factory.mktemp("samples") / "lake")
    with Lake.create(settings) as lake:
        results = write_samples(lake)
    return settings, results


@pytest.mark.parametrize("name", list(TABLES))
def test_schema_round_trip(sample_lake, name):
    settings, results = sample_lake
    sent = SAMPLES[name]
    assert results[name] == WriteResult(name, len(sent), 0, 0)
    with Lake.open(settings, read_only=True) as lake:
        where, params = _sample_where(name)
        got = lake.read(name, where=where, params=params)
    definition = TABLES[name]
    assert list(got.columns) == definition.column_names
    sent = sent.sort_values(list(definition.key), ignore_index=True)
    got = got.reset_index(drop=True)
    for col in definition.columns:
        _check_column(name, col, got[col.name], sent[col.name])


def test_metric_dictionary_is_seeded_from_schema(empty_lake):
    with Lake.open(empty_lake, read_only=True) as lake:
        metric = lake.read("metric").set_index("metric")
        assert lake.schema_version == SCHEMA_VERSION
    assert sorted(metric.index) == sorted(METRICS)
    for m in METRICS.values():
        assert metric.loc[m.name, "unit"] == m.unit
        assert (metric.loc[m.name, "min_valid"], metric.loc[m.name, "max_valid"]) == (m.min_valid, m.max_valid)


def test_aware_timestamps_are_stored_as_utc(empty_lake):
    with Lake.open(empty_lake) as lake:
        write_samples(lake, ["org", "device"])
        batch = SAMPLES["telemetry"].iloc[:1].copy()
        batch["ts"] = pd.DatetimeIndex([T(2025, 1, 1, 8)]).tz_localize("Asia/Shanghai")  # 08:00 China time
        lake.append("telemetry", batch)
        got = lake.read("telemetry")
    assert got.ts.tolist() == [pd.Timestamp("2025-01-01 00:00")]  # = 00:00 UTC


# ------------------------------------------------------------------------------ idempotence
@pytest.mark.parametrize("name", ["org", "telemetry", "activity"])
def test_reappending_the_same_batch_is_a_no_op(empty_lake, name):
    with Lake.open(empty_lake) as lake:
        order = list(SAMPLES)
        write_samples(lake, [n for n in order[: order.index(name)] if n not in ("lake_meta", "metric")])
        batch = SAMPLES[name]
        first = lake.append(name, batch)
        rows, snapshot, checksum = _rows(lake, name), lake.snapshot_id(), lake.checksums()[name]
        second = lake.append(name, batch)
        assert first == WriteResult(name, len(batch), 0, 0)
        assert second == WriteResult(name, 0, len(batch), 0)
        assert _rows(lake, name) == rows == len(batch)
        assert lake.snapshot_id() == snapshot, "an idempotent re-append must not create a snapshot"
        assert lake.checksums()[name] == checksum
        # a batch mixing known rows and new ones inserts only the new ones
        if name == "telemetry":
            more = pd.concat([batch, batch.iloc[:1].assign(ts=T(2025, 1, 1, 2))], ignore_index=True)
            assert lake.append(name, more) == WriteResult(name, 1, len(batch), 0)
            assert _rows(lake, name) == rows + 1


# ------------------------------------------------------------------------- snapshot pinning
def test_snapshot_pinning(empty_lake):
    with Lake.open(empty_lake) as lake:
        write_samples(lake, ["org", "device", "telemetry"])
        k = lake.snapshot_id()
        before = lake.read("telemetry")
        checks_before = lake.checksums()
        new = SAMPLES["telemetry"].assign(ts=lambda d: d.ts + pd.Timedelta(days=31), value=lambda d: d.value + 1)
        assert lake.append("telemetry", new).inserted == len(new)
        lake.append("org", SAMPLES["org"].iloc[1:2].assign(org_id="C4302"))
        assert lake.snapshot_id() > k
        assert len(lake.read("telemetry")) == len(before) + len(new)
        # per-query pin
        pd.testing.assert_frame_equal(lake.read("telemetry", snapshot=k), before)
        assert lake.checksums(snapshot=k) == checks_before
        assert lake.checksums() != checks_before
        latest = lake.snapshot_id()

    with Lake.open(empty_lake, snapshot=k) as pinned:
        assert pinned.snapshot_id() == k
        assert pinned.read_only
        pd.testing.assert_frame_equal(pinned.read("telemetry"), before)
        assert pinned.checksums() == checks_before
        assert int(pinned.query("SELECT count(*) AS n FROM telemetry").n[0]) == len(before)
        with pytest.raises(LakeError, match="read-only"):
            pinned.append("telemetry", SAMPLES["telemetry"].assign(ts=lambda d: d.ts + pd.Timedelta(days=90)))

    with Lake.open(empty_lake) as lake:
        assert lake.snapshot_id() == latest, "the refused write must not have created a snapshot"
        assert len(lake.read("telemetry")) == len(before) + len(new)


def test_read_only_connection_refuses_writes(empty_lake):
    with Lake.open(empty_lake, read_only=True) as lake:
        with pytest.raises(LakeError, match="read-only"):
            lake.append("org", SAMPLES["org"])
    with Lake.open(empty_lake, read_only=True) as lake:
        assert _rows(lake, "org") == 0


# ---------------------------------------------------------------- concurrent OS processes
_WRITER = textwrap.dedent(
    """
    import sys
    import pandas as pd
    from carbonlib.lake import Lake
    from carbonlib.settings import load_settings

    lake_dir, writer, batches, rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    with Lake.open(load_settings(lake=lake_dir)) as lake:
        for b in range(batches):
            start = pd.Timestamp("2025-01-01") + pd.Timedelta(hours=b * rows)
            batch = pd.DataFrame({
                "device_id": f"M-{writer}",
                "metric": "electricity_import",
                "ts": pd.date_range(start, periods=rows, freq="h"),
                "value": float(writer * 1000 + b),   # identifies the batch
                "qc": 0,
            }).astype({"qc": "uint8"})
            result = lake.append("telemetry", batch, source=f"writer{writer}/batch{b}")
            assert result.inserted == rows, result
    print("done", writer)
    """
)

_READER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    import duckdb
    from carbonlib.lake import Lake
    from carbonlib.settings import load_settings

    lake_dir, stop_file, out = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    counts, lock_errors = [], 0
    with Lake.open(load_settings(lake=lake_dir), read_only=True) as lake:   # one long-lived connection
        while True:
            stop = stop_file.exists()
            try:
                counts.append(int(lake.query("SELECT count(*) AS n FROM telemetry").n[0]))
            except duckdb.Error as error:  # the SQLite catalog is briefly locked by a committing writer
                if "locked" not in str(error).lower():
                    raise
                lock_errors += 1
                time.sleep(0.05)
                continue
            if stop:
                break
            time.sleep(0.05)
    Path(out).write_text(json.dumps({"counts": counts, "lock_errors": lock_errors}))
    """
)


@pytest.mark.slow
def test_concurrent_writers_in_separate_processes(empty_lake, tmp_path):
    writers, batches, rows = 3, 15, 5
    with Lake.open(empty_lake) as lake:
        lake.append("org", SAMPLES["org"])
        lake.append("device", pd.DataFrame({
            "device_id": [f"M-{w}" for w in range(writers)], "org_id": "E430121-01", "kind": "electricity_meter",
            "model": "DTSD1352", "serial_no": [f"SN{w}" for w in range(writers)], "interval_s": 3600,
            "installed_on": D(2024, 11, 1),
        }))
    lake_dir = str(empty_lake.lake)
    stop_file, counts_file = tmp_path / "stop", tmp_path / "counts.json"
    reader = subprocess.Popen([sys.executable, "-c", _READER, lake_dir, str(stop_file), str(counts_file)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, lake_dir, str(w), str(batches), str(rows)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for w in range(writers)
    ]
    try:
        outputs = [p.communicate(timeout=300) for p in procs]
    finally:
        stop_file.touch()
        for p in procs:
            if p.poll() is None:
                p.kill()
        _, reader_err = reader.communicate(timeout=120)
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-3000:]
    assert reader.returncode == 0, reader_err[-3000:]

    total = writers * batches * rows
    with Lake.open(empty_lake, read_only=True) as lake:
        stats = lake.query(
            "SELECT count(*) AS n, count(DISTINCT (device_id, metric, ts)) AS keys FROM telemetry"
        ).iloc[0]
        per_batch = lake.query("SELECT device_id, value, count(*) AS n FROM telemetry GROUP BY ALL")
    assert stats.n == total
    assert stats["keys"] == total, "duplicate keys after concurrent writes"
    expected = {(f"M-{w}", float(w * 1000 + b)) for w in range(writers) for b in range(batches)}
    assert set(zip(per_batch.device_id, per_batch.value)) == expected, "a batch is missing"
    assert (per_batch.n == rows).all(), "a batch was written partially or twice"

    report = json.loads(counts_file.read_text())
    counts = report["counts"]
    assert len(counts) >= 2
    assert all(a <= b for a, b in zip(counts, counts[1:])), f"reader saw the count go down: {counts}"
    assert all(c % rows == 0 for c in counts), f"reader saw a partial batch: {counts}"
    assert counts[-1] == total, "a long-lived reader must see the other processes' commits"


# --------------------------------------------------------------------------------- bad input
def _frame(name: str, **changes) -> pd.DataFrame:
    frame = SAMPLES[name].copy()
    for column, value in changes.items():
        frame[column] = value
    return frame


def _telemetry(**changes) -> pd.DataFrame:
    batch = SAMPLES["telemetry"].iloc[:2].copy()  # two electricity_import rows of device M-1
    batch["ts"] = [T(2025, 3, 1, 0), T(2025, 3, 1, 1)]
    for column, value in changes.items():
        batch[column] = value
    return batch


def _nan_batch() -> pa.Table:
    batch = pa.Table.from_pandas(_telemetry(), preserve_index=False)
    values = pa.array([1.0, float("nan")], from_pandas=False)  # a real NaN, not a NULL
    return batch.set_column(batch.schema.get_field_index("value"), "value", values)


# (case id, table, batch builder, offending row, field, words the reason must contain)
BAD_INPUT = [
    ("unknown org", "device", lambda: _frame("device", org_id=["E430121-01", "NO-SUCH-ORG"]), 1, "org_id", "unknown org"),
    ("unknown device", "telemetry", lambda: _telemetry(device_id=["M-1", "M-404"]), 1, "device_id", "unknown device"),
    ("wrong unit", "telemetry", lambda: _telemetry(unit=["kWh", "MWh"]), 1, "unit", "canonical unit"),
    ("out of range", "telemetry", lambda: _telemetry(value=[1.0, -5.0]), 1, "value", "plausible range"),
    ("too large", "telemetry", lambda: _telemetry(value=[5e6 + 1, 1.0]), 0, "value", "plausible range"),
    ("NaN", "telemetry", _nan_batch, 1, "value", "NaN"),
    ("NULL value", "telemetry", lambda: _telemetry(value=[1.0, None]), 1, "value", "required"),
    ("wrong type", "telemetry", lambda: _telemetry(value=["1.5", "abc"]), 1, "value", "cannot be read as DOUBLE"),
    ("wrong type org", "org", lambda: _frame("org", latitude=["27.6", "abc", None, "28.3"]), 1, "latitude",
     "cannot be read as DOUBLE"),
    ("org latitude out of range", "org", lambda: _frame("org", latitude=[27.6, 95.0, None, 28.3]), 1, "latitude",
     "above the maximum"),
    ("bad allowed value", "org", lambda: _frame("org", level=["province", "city", "enterprise", "village"]), 3, "level",
     "must be one of"),
    ("missing column", "telemetry", lambda: _telemetry().drop(columns="qc"), -1, "qc", "column missing"),
    ("unknown column", "telemetry", lambda: _telemetry(colour="red"), -1, "colour", "column not in the table"),
    ("duplicate key", "telemetry", lambda: _telemetry(ts=[T(2025, 3, 1, 0)] * 2), 1, "ts", "duplicate key"),
    ("activity unit", "activity", lambda: _frame("activity", unit=["MWh", "barrel"]), 1, "unit", "must be one of"),
]


@pytest.mark.parametrize(("table", "make", "row", "field", "reason"), [c[1:] for c in BAD_INPUT],
                         ids=[c[0] for c in BAD_INPUT])
def test_bad_input_is_refused_with_a_clear_message(empty_lake, table, make, row, field, reason):
    with Lake.open(empty_lake) as lake:
        prerequisites = {"device": ["org"], "telemetry": ["org", "device"], "activity": ["org"], "org": []}[table]
        write_samples(lake, prerequisites)
        rows, snapshot, before = _rows(lake, table), lake.snapshot_id(), lake.read(table)
        with pytest.raises(SchemaViolation) as caught:
            lake.append(table, make())
        error = caught.value
        message = str(error)
        assert error.table == table
        assert f"table {table!r}" in message
        assert f"row {row}," in message
        assert repr(field) in message
        assert reason in message
        assert "Fix:" in message and "nothing was written" in message
        v = error.violations
        assert list(v.columns) == ["row_number", "field", "value", "reason"]
        hit = v[(v.row_number == row) & (v.field == field)]
        assert len(hit) and hit.reason.str.contains(reason, regex=False).any(), v
        assert _rows(lake, table) == rows
        assert lake.snapshot_id() == snapshot
        pd.testing.assert_frame_equal(lake.read(table), before)


def test_same_key_with_different_values_is_an_append_only_conflict(empty_lake):
    with Lake.open(empty_lake) as lake:
        write_samples(lake, ["org", "device", "telemetry", "activity"])
        for table, changed, row, field in (
            ("telemetry", SAMPLES["telemetry"].assign(value=[812.5, 1.0, -12.25]), 1, "ts"),
            ("activity", SAMPLES["activity"].assign(evidence_ref=["INV-1-SCAN2", "INV-1-COR"]), 0, "entry_id"),
            ("org", SAMPLES["org"].assign(name_en=["Hunan Province", "Changsha", "Changsha Power Plant No.1",
                                                    "Changsha Forest Farm No.1"]), 0, "org_id"),
        ):
            rows, snapshot, checksums = _rows(lake, table), lake.snapshot_id(), lake.checksums()
            with pytest.raises(SchemaViolation) as caught:
                lake.append(table, changed)
            message = str(caught.value)
            assert f"table {table!r}" in message and f"row {row}," in message and repr(field) in message
            assert "key already in the lake with different values" in message
            assert "Fix:" in message
            assert len(caught.value.violations) == 1
            assert (_rows(lake, table), lake.snapshot_id(), lake.checksums()) == (rows, snapshot, checksums)


def test_a_derived_table_batch_replaces_its_key_groups_in_one_transaction(empty_lake):
    """``replace_within``: stored rows of the named groups that the batch lacks go, in the insert's snapshot."""
    with Lake.open(empty_lake) as lake:
        write_samples(lake, ["org"])
        row = SAMPLES["account"]
        figures = pd.concat([row.assign(item=item, value=value) for item, value in
                             (("emissions_total", 10.0), ("net", -12.5), ("removals", 22.5))]
                            + [row.assign(period="2024", item="net", value=-1.0)], ignore_index=True)
        lake.service_append("accounting", "account", figures, source="test")
        stored = lake.read("account")
        group = row[["org_id", "period", "method_version"]]
        in_group = (stored.period == "2025").to_numpy()
        kept = stored[in_group].iloc[1:].assign(value=lambda f: f.value + 1.0)  # one item dropped, the rest changed
        others_before = stored[~in_group]
        snapshot = lake.snapshot_id()

        result = lake.service_append("accounting", "account", kept, source="test", replace_within=group)
        assert (result.inserted, result.deleted) == (len(kept), 1)
        assert lake.snapshot_id() == snapshot + 1, "delete and insert must be one snapshot"
        after = lake.read("account")
        mine = after.merge(group, on=list(group.columns))
        assert sorted(mine["item"]) == sorted(kept["item"])
        assert mine.sort_values("item").value.tolist() == kept.sort_values("item").value.tolist()
        pd.testing.assert_frame_equal(after[~after.set_index(list(group.columns)).index.isin(
            group.set_index(list(group.columns)).index)].reset_index(drop=True), others_before.reset_index(drop=True))

        again = lake.service_append("accounting", "account", kept, source="test", replace_within=group)
        assert (again.inserted, again.deleted) == (0, 0) and lake.snapshot_id() == snapshot + 1
        with pytest.raises(ValueError, match="prefix of its key"):
            lake.service_append("accounting", "account", kept, source="test", replace_within=group[["period"]])
        with pytest.raises(OwnedTableError, match="owned by nobody"):
            lake.service_append("accounting", "org", SAMPLES["org"], source="test", replace_within=SAMPLES["org"][["org_id"]])


def test_problems_are_all_reported_not_just_the_first(empty_lake):
    with Lake.open(empty_lake) as lake:
        write_samples(lake, ["org", "device"])
        batch = _telemetry(device_id=["M-404", "M-1"], value=[1.0, -1.0], qc=np.array([0, 7], np.uint8))
        with pytest.raises(SchemaViolation) as caught:
            lake.append("telemetry", batch)
    v = caught.value.violations
    assert {(r.row_number, r.field) for r in v.itertuples()} == {(0, "device_id"), (1, "value"), (1, "qc")}


def test_quarantine_keeps_good_rows_and_records_bad_ones(empty_lake):
    received = T(2025, 4, 1, 0, 5)
    batch = pd.DataFrame({
        "device_id": ["M-1", "M-404", "M-1", "M-1", "T-1"],
        "metric": ["electricity_import", "electricity_import", "electricity_import", "electricity_import", "NEE"],
        "ts": [T(2025, 3, 1, 0), T(2025, 3, 1, 1), T(2025, 3, 1, 2), T(2025, 3, 1, 3), T(2025, 3, 1, 0, 30)],
        "value": [10.0, 11.0, 5e7, 13.0, -9999.0],
        "qc": np.array([0, 0, 0, 1, 0], np.uint8),
    })
    with Lake.open(empty_lake) as lake:
        write_samples(lake, ["org", "device"])
        result = lake.append("telemetry", batch, source="gateway/2025-03", on_error="quarantine", received_at=received)
        assert result == WriteResult("telemetry", 2, 0, 3)
        stored = lake.read("telemetry")
        rejects = lake.read("telemetry_reject")
        # re-running the same quarantine batch is idempotent for the good rows
        again = lake.append("telemetry", batch, source="gateway/2025-03", on_error="quarantine", received_at=received)
        assert (again.inserted, again.skipped) == (0, 2)
    assert stored[["device_id", "ts", "value"]].values.tolist() == [
        ["M-1", pd.Timestamp("2025-03-01 00:00"), 10.0], ["M-1", pd.Timestamp("2025-03-01 03:00"), 13.0]]
    assert rejects.row_number.tolist() == [1, 2, 4]
    assert (rejects.source == "gateway/2025-03").all()
    assert (rejects.received_at == pd.Timestamp(received)).all()
    by_row = rejects.set_index("row_number")
    assert by_row.loc[1, "field"] == "device_id" and "unknown device" in by_row.loc[1, "reason"]
    assert by_row.loc[2, "field"] == "value" and "outside the metric's plausible range" in by_row.loc[2, "reason"]
    assert "outside the metric's plausible range" in by_row.loc[4, "reason"]
    for row in (1, 2, 4):
        payload = json.loads(by_row.loc[row, "payload"])
        original = batch.iloc[row]
        assert payload["device_id"] == original.device_id
        assert payload["metric"] == original.metric
        assert payload["value"] == original.value
        assert payload["qc"] == original.qc
        assert pd.Timestamp(payload["ts"]) == original.ts


def test_quarantine_is_only_for_telemetry(empty_lake):
    with Lake.open(empty_lake) as lake:
        with pytest.raises(ValueError, match="quarantine"):
            lake.append("org", SAMPLES["org"], on_error="quarantine")
        with pytest.raises(ValueError, match="on_error"):
            lake.append("org", SAMPLES["org"], on_error="ignore")
        assert _rows(lake, "org") == 0


# ------------------------------------------------------------------- not a lake / versions
def _assert_names_the_fix(message: str) -> None:
    assert "Fix" in message
    assert "carbon lake init" in message or "carbon demo build" in message


def test_empty_folder_is_not_a_lake(tmp_path):
    with pytest.raises(NotALakeError) as caught:
        Lake.open(load_settings(lake=tmp_path))
    message = str(caught.value)
    _assert_names_the_fix(message)
    assert "carbon lake init" in message and "carbon demo build" in message
    assert str(tmp_path) in message
    assert list(tmp_path.iterdir()) == [], "opening must not create anything"


def test_missing_folder_is_not_a_lake(tmp_path):
    with pytest.raises(NotALakeError) as caught:
        Lake.open(load_settings(lake=tmp_path / "nowhere"), read_only=True)
    _assert_names_the_fix(str(caught.value))
    assert not (tmp_path / "nowhere").exists()


def test_garbage_catalog_is_not_a_lake(tmp_path):
    garbage = bytes(range(256)) * 16
    (tmp_path / "catalog.sqlite").write_bytes(garbage)
    for read_only in (False, True):
        with pytest.raises(NotALakeError) as caught:
            Lake.open(load_settings(lake=tmp_path), read_only=read_only)
        _assert_names_the_fix(str(caught.value))
        assert "catalog.sqlite" in str(caught.value)
    assert (tmp_path / "catalog.sqlite").read_bytes() == garbage, "a foreign file must never be modified"


def _foreign_sqlite(path: Path) -> bytes:
    import sqlite3

    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (x)")
    return path.read_bytes()


def test_foreign_sqlite_database_is_not_a_lake(tmp_path):
    before = _foreign_sqlite(tmp_path / "catalog.sqlite")
    with pytest.raises(NotALakeError) as caught:
        Lake.open(load_settings(lake=tmp_path), read_only=True)
    _assert_names_the_fix(str(caught.value))
    assert (tmp_path / "catalog.sqlite").read_bytes() == before


def test_foreign_sqlite_database_is_not_modified_by_a_writable_open(tmp_path):
    before = _foreign_sqlite(tmp_path / "catalog.sqlite")
    with pytest.raises(NotALakeError) as caught:
        Lake.open(load_settings(lake=tmp_path))
    _assert_names_the_fix(str(caught.value))
    assert (tmp_path / "catalog.sqlite").read_bytes() == before


def test_creating_over_an_existing_lake_is_refused(empty_lake):
    with pytest.raises(LakeError, match="already exists"):
        Lake.create(empty_lake)
    with Lake.create(empty_lake, exist_ok=True) as lake:
        assert lake.schema_version == SCHEMA_VERSION


def test_newer_schema_version_asks_for_an_upgrade(empty_lake):
    with Lake.open(empty_lake) as lake:
        lake.set_meta("schema_version", str(SCHEMA_VERSION + 1))
        assert lake.meta("schema_version") == str(SCHEMA_VERSION + 1)
    for kwargs in ({}, {"read_only": True}, {"migrate": True}):
        with pytest.raises(SchemaVersionError) as caught:
            Lake.open(empty_lake, **kwargs)
        message = str(caught.value)
        assert "upgrade" in message and "Fix" in message
        assert str(SCHEMA_VERSION + 1) in message


def test_older_schema_version_asks_for_migrate_and_migrates(empty_lake):
    with Lake.open(empty_lake) as lake:
        write_samples(lake, ["org"])
        lake.set_meta("schema_version", str(SCHEMA_VERSION - 1))
    for kwargs in ({}, {"read_only": True}, {"read_only": True, "migrate": True}):
        with pytest.raises(SchemaVersionError) as caught:
            Lake.open(empty_lake, **kwargs)
        assert "carbon lake migrate" in str(caught.value) and "Fix" in str(caught.value)
    with Lake.open(empty_lake, migrate=True) as lake:
        assert lake.schema_version == SCHEMA_VERSION
        assert lake.meta("schema_version") == str(SCHEMA_VERSION)
        assert _rows(lake, "org") == len(SAMPLES["org"]), "migration must keep the data"
    with Lake.open(empty_lake, read_only=True) as lake:  # no migration needed any more
        assert lake.schema_version == SCHEMA_VERSION


# ------------------------------------------------------------------------------- schema docs
def test_render_markdown_mentions_every_table_and_column():
    text = render_markdown()
    assert f"Schema version {SCHEMA_VERSION}" in text
    for name, definition in TABLES.items():
        assert f"## `{name}`" in text
        section = text.split(f"## `{name}`", 1)[1].split("\n## ", 1)[0]
        for column in definition.column_names:
            assert f"| {column} |" in section, f"{name}.{column} missing from the data model doc"
    for metric in METRICS.values():
        assert f"| {metric.name} | {metric.unit} |" in text


def test_data_model_doc_is_up_to_date():
    doc = Path(carbonlib.__file__).parent.parent / "docs" / "data-model.md"
    if not doc.is_file():
        pytest.skip("docs/data-model.md not present")
    assert doc.read_text(encoding="utf-8") == render_markdown(), "regenerate with `carbon schema --markdown`"


@pytest.mark.parametrize("unit", ACTIVITY_UNITS)
def test_activity_units_are_known_to_carbonlib_units(unit):
    assert normalise_unit(unit) == unit, "ACTIVITY_UNITS must use carbonlib.units' canonical spelling"


# ------------------------------------------------------------------------ layering contract
PACKAGE = Path(carbonlib.__file__).parent
SCIENCE = ("units", "factors", "emissions", "sinks", "flux", "uncertainty", "_mds")
FORBIDDEN_IN_SCIENCE = ("carbonlib.lake", "carbonlib.demo", "carbonlib.cli", "carbonlib.accounting", "carbonlib.reporting",
                        "duckdb", "panel", "ipywidgets", "bokeh", "holoviews", "matplotlib")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> set[str]:
    """Absolute names of every module imported anywhere in ``path`` (also inside functions)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module
            found.add(prefix)
            found.update(f"{prefix}.{alias.name}" for alias in node.names)  # `from . import units`
    return found


def _matches(name: str, prefixes) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_import_parser_resolves_relative_imports():
    assert "carbonlib.lake.schema" in imported_modules(PACKAGE / "lake" / "migrations.py")
    assert "carbonlib.factors" in imported_modules(PACKAGE / "demo" / "build.py")
    assert "duckdb" in imported_modules(PACKAGE / "lake" / "connection.py")


@pytest.mark.parametrize("name", SCIENCE)
def test_science_modules_know_nothing_of_lake_ui_or_duckdb(name):
    path = PACKAGE / f"{name}.py"
    assert path.is_file(), f"science module {name} moved; update the layering test"
    bad = sorted(m for m in imported_modules(path) if _matches(m, FORBIDDEN_IN_SCIENCE))
    assert not bad, f"carbonlib.{name} imports {bad}; science modules must stay independent of storage and UI"


def test_lake_layer_knows_nothing_of_carbon_science():
    science = tuple(f"carbonlib.{m}" for m in SCIENCE)
    files = sorted((PACKAGE / "lake").rglob("*.py"))
    assert files
    for path in files:
        bad = sorted(m for m in imported_modules(path) if _matches(m, science))
        assert not bad, f"{path.relative_to(PACKAGE.parent)} imports {bad}; the lake layer knows no carbon science"
