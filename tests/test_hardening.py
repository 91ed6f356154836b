"""Hardening issue: one test (or a few) per finding of the probe, each failing before its fix.

Findings 4 and 5 (scripting in pages, scope escape through a browser-edited table) are
covered here at the server and in ``test_dashboards.py`` in Chromium; the bad-input corpus
with its tally is ``test_bad_input_corpus.py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import lake_settings
from test_lake import SAMPLES, write_samples
from typer.testing import CliRunner

from carbonlib.accounting import accounts, factor_library
from carbonlib.cli import app
from carbonlib.lake import (
    CATALOG,
    Lake,
    LakeBusyError,
    LakeError,
    OwnedTableError,
    SchemaViolation,
)
from carbonlib.lake.schema import TABLES
from carbonlib.markup import html, md_text
from carbonlib.paths import inside
from carbonlib.settings import Settings, SettingsError, load_settings, mask_secrets

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str, env: dict | None = None):
    return runner.invoke(app, list(args), env=env)


def state(lake: Lake) -> tuple:
    """What a refused write must leave unchanged: snapshot, content checksums, files on disk."""
    files = sorted(str(p.relative_to(lake.settings.lake)) for p in Path(lake.settings.lake).rglob("*.parquet"))
    return lake.snapshot_id(), lake.checksums(), files


def legacy_insert(lake: Lake, table: str, row: dict) -> None:
    """Write a row the way an older carbonlib (or another tool) could: past every check of the writer."""
    names = TABLES[table].column_names
    values = [None if pd.isna(row.get(n)) else row.get(n) for n in names]
    lake._con.execute(f"INSERT INTO {CATALOG}.{table} VALUES ({', '.join('?' * len(names))})", values)


@pytest.fixture
def samples(empty_lake):
    """An empty lake holding the sample org tree, devices and reference rows of test_lake."""
    with Lake.open(empty_lake) as lake:
        write_samples(lake, ["org", "device", "emission_factor", "gwp", "species_parameter"])
    return empty_lake


# ------------------------------------------------------------------ 1. stored SQL injection
def test_an_org_id_cannot_run_sql_in_the_report_queries(samples, tmp_path):
    """An org id holding SQL (written by an older carbonlib) is only ever a bound value: nothing runs."""
    from carbonlib.reporting import reports

    target = tmp_path / "pwned.csv"
    evil = f"x'); COPY (SELECT 42 AS answer) TO '{target}' (HEADER); --"
    with Lake.open(samples) as lake:
        legacy_insert(lake, "org", dict(SAMPLES["org"].iloc[2]) | {"org_id": evil, "parent_id": "P43"})
        snapshot = lake.snapshot_id()
        reports.data_quality(lake, "P43", "2025-01", snapshot)
        reports.rejected_records(lake, "P43", "2025-01", snapshot)
    assert not target.exists(), "an org id ran SQL"


def test_the_lake_takes_any_folder_name_and_a_quote_in_the_data_path_injects_nothing(tmp_path):
    folder = tmp_path / "it's a lake"
    data = tmp_path / "data', READ_ONLY, METADATA_SCHEMA 'x"
    settings = load_settings(lake=folder, data_path=str(data))
    with Lake.create(settings) as lake:
        write_samples(lake, ["org"])
        assert not lake.read_only
    with Lake.open(settings, read_only=True) as lake:
        assert len(lake.read("org")) == len(SAMPLES["org"])
    assert (folder / "catalog.sqlite").is_file() and data.is_dir(), "the quoted names are taken literally"


def test_query_runs_exactly_one_statement(samples, tmp_path):
    target = tmp_path / "second.csv"
    with Lake.open(samples, read_only=True) as lake:
        with pytest.raises(LakeError, match="exactly one SQL statement"):
            lake.query(f"SELECT 1; COPY (SELECT 1) TO '{target}'")
    assert not target.exists()


# ------------------------------------------------------------------ 2. path traversal
def test_an_org_id_cannot_lead_report_files_out_of_their_folder(samples, tmp_path):
    from carbonlib.reporting import reports

    out = tmp_path / "out"
    with Lake.open(samples) as lake:
        legacy_insert(lake, "org", dict(SAMPLES["org"].iloc[2]) | {"org_id": "../../escaped", "parent_id": "P43"})
    with pytest.raises(ValueError, match="not an identifier"):
        reports.run_batch(samples, "monthly", "2025-01", orgs=["../../escaped"], out_dir=out, progress=False)
    assert not (tmp_path / "escaped").exists() and not out.exists()


@pytest.mark.parametrize("parts", [("..", "x"), ("a/b",), ("../../etc",), ("",), (" P43",), ("a\x00b",)])
def test_inside_refuses_parts_that_leave_the_folder(tmp_path, parts):
    with pytest.raises(ValueError):
        inside(tmp_path, *parts)
    assert inside(tmp_path, "monthly", "2025-10", "P43") == tmp_path.resolve() / "monthly" / "2025-10" / "P43"


# ------------------------------------------------------------------ 3. identifiers and the org tree
ORG = dict(SAMPLES["org"].iloc[2])  # E430121-01, an enterprise under C4301


@pytest.mark.parametrize("bad_id", ["a/b", "../x", "x..y", "it's", 'say"hi', "tab\there", "new\nline", "",
                                    " P43", "P43 ", "a" * 129, "中文", "-lead"])
def test_ids_outside_the_documented_alphabet_are_refused(samples, bad_id):
    with Lake.open(samples) as lake:
        before = state(lake)
        with pytest.raises(SchemaViolation, match="org_id") as caught:
            lake.append("org", pd.DataFrame([ORG | {"org_id": bad_id}]))
        assert state(lake) == before
    assert any(r in str(caught.value) for r in ("is not an identifier", "is required", "is blank"))


@pytest.mark.parametrize("change, field, reason", [
    ({"org_id": "P44", "parent_id": None, "level": "province", "region_code": "440000", "industry": None,
      "kind": "government"}, "parent_id", "second root"),
    ({"org_id": "C4399", "parent_id": "C4399", "level": "city", "region_code": "439900", "industry": None,
      "kind": "government"}, "parent_id", "its own parent"),
    ({"org_id": "C4398", "parent_id": "E430121-01", "level": "city", "region_code": "439800", "industry": None,
      "kind": "government"}, "parent_id", "not above the org"),
    ({"org_id": "E430121-09", "region_code": "43012"}, "region_code", "6-digit"),
    ({"org_id": "C4397", "parent_id": "P43", "level": "city", "region_code": "430121", "industry": None,
      "kind": "government"}, "region_code", "does not fit the level"),
    ({"org_id": "E450121-01", "region_code": "450121"}, "region_code", "outside the parent"),
    ({"org_id": "S430121-09", "level": "site", "kind": "forest", "industry": "power"}, "industry", "only for enterprises"),
    ({"org_id": "E430121-08", "kind": "forest"}, "kind", "does not fit the level"),
])
def test_the_org_tree_stays_a_tree(samples, change, field, reason):
    with Lake.open(samples) as lake:
        before = state(lake)
        with pytest.raises(SchemaViolation, match=reason) as caught:
            lake.append("org", pd.DataFrame([ORG | change]))
        assert caught.value.violations.field.tolist()[0] == field
        assert state(lake) == before


def test_a_cycle_inside_one_batch_is_refused(samples):
    pair = [ORG | {"org_id": "C4396", "parent_id": "C4395", "level": "city", "region_code": "439600", "industry": None,
                   "kind": "government"},
            ORG | {"org_id": "C4395", "parent_id": "C4396", "level": "city", "region_code": "439500", "industry": None,
                   "kind": "government"}]
    with Lake.open(samples) as lake:
        with pytest.raises(SchemaViolation, match="not above the org"):
            lake.append("org", pd.DataFrame(pair))


# ------------------------------------------------------------------ 6. time zone
def test_every_connection_and_cursor_runs_in_utc_under_a_foreign_tz(empty_lake):
    """Written in a process with TZ=Asia/Shanghai: an aware UTC time is stored as that UTC time."""
    code = textwrap.dedent(f"""
        import pandas as pd
        from test_lake import SAMPLES, write_samples
        from carbonlib.lake import Lake
        from carbonlib.settings import load_settings
        with Lake.open(load_settings(lake={str(empty_lake.lake)!r})) as lake:
            write_samples(lake, ["org", "device"])
            batch = SAMPLES["telemetry"].iloc[:1].copy()
            batch["ts"] = pd.DatetimeIndex(["2025-01-01 03:00"]).tz_localize("UTC")
            lake.append("telemetry", batch)
            print(lake.read("telemetry").ts.iloc[0], lake.query("SELECT current_setting('TimeZone') AS tz").tz[0])
    """)
    env = dict(os.environ, TZ="Asia/Shanghai", PYTHONPATH=str(ROOT / "tests"))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["2025-01-01", "03:00:00", "UTC"]


# ------------------------------------------------------------------ 7. data loss
def test_demo_force_replaces_only_a_demo_lake(tmp_path):
    real = tmp_path / "real"
    assert cli("lake", "init", "--lake", str(real)).exit_code == 0
    with Lake.open(lake_settings(real)) as lake:
        write_samples(lake, ["org"])
        before = lake.checksums()
    result = cli("demo", "build", "--lake", str(real), "--force", "--no-progress")
    assert result.exit_code == 1 and "did not make" in result.output and "--force replaces only demo lakes" in result.output
    with Lake.open(lake_settings(real), read_only=True) as lake:
        assert lake.checksums() == before, "a non-demo lake was changed"

    other = tmp_path / "other"
    other.mkdir()
    (other / "catalog.sqlite").write_text("not a database")
    (other / "thesis.docx").write_text("years of work")
    result = cli("demo", "build", "--lake", str(other), "--force", "--no-progress")
    assert result.exit_code == 1 and (other / "thesis.docx").read_text() == "years of work"

    result = cli("demo", "build", "--lake", str(real), "--no-progress")
    assert result.exit_code == 1 and "--force" in result.output, "an existing lake names the --force way out"


@pytest.mark.slow
def test_demo_force_says_what_it_replaced(tmp_path):
    demo = tmp_path / "demo"
    assert cli("demo", "build", "--lake", str(demo), "--no-progress").exit_code == 0
    (demo / "notes.txt").write_text("mine")
    result = cli("demo", "build", "--lake", str(demo), "--force", "--no-progress")
    assert result.exit_code == 0, result.output
    assert "replaced the demo lake (small, seed 2364)" in result.output
    assert (demo / "notes.txt").read_text() == "mine", "only the lake's own files are replaced"


# ------------------------------------------------------------------ 8. service-owned tables
@pytest.mark.parametrize("name", [t.name for t in TABLES.values() if t.owner])
def test_service_owned_tables_refuse_the_public_writer(samples, name):
    with Lake.open(samples) as lake:
        before = state(lake)
        with pytest.raises(OwnedTableError, match=f"table {name!r} is written only by the {TABLES[name].owner} service"):
            lake.append(name, SAMPLES[name])
        assert state(lake) == before
    with Lake.open(samples) as lake:  # still opens: lake_meta was not touched
        assert lake.schema_version >= 1


def test_a_service_writes_only_its_own_tables(samples):
    with Lake.open(samples) as lake:
        with pytest.raises(OwnedTableError, match="owned by accounting"):
            lake.service_append("reporting", "account", SAMPLES["account"], source="test")


@pytest.mark.parametrize("table, change, reason", [
    ("emission_factor", {"value": -0.5}, "below the minimum"),
    ("emission_factor", {"kind": "magic"}, "must be one of"),
    ("gwp", {"value": -28.0}, "below the minimum"),
    ("gwp", {"value": 0.0}, "must be positive"),
])
def test_negative_factors_and_gwps_are_refused(samples, table, change, reason):
    batch = SAMPLES[table].iloc[:1].assign(**change)
    batch = batch.assign(**{TABLES[table].key[0]: ["NEW-1" if table == "emission_factor" else "SF6"]})
    with Lake.open(samples) as lake:
        with pytest.raises(SchemaViolation, match=reason):
            lake.append(table, batch)


def test_an_oxidation_rate_above_one_is_refused(samples):
    batch = SAMPLES["emission_factor"].iloc[:1].assign(factor_id="ox:x", kind="oxidation", value=1.2, unit="1")
    with Lake.open(samples) as lake:
        with pytest.raises(SchemaViolation, match="oxidation rate"):
            lake.append("emission_factor", batch)


# ------------------------------------------------------------------ 9. plausibility
def _reading(**change) -> pd.DataFrame:
    return SAMPLES["telemetry"].iloc[:1].copy().assign(**change)  # M-1, an hourly electricity meter


@pytest.mark.parametrize("change, field, reason", [
    ({"ts": [datetime.now() + timedelta(days=30)]}, "ts", "lies in the future"),
    ({"ts": [datetime(1980, 1, 1)]}, "ts", "before 1990-01-01"),
    ({"ts": [datetime(2024, 10, 1)]}, "ts", "before the device was installed"),
    ({"ts": [datetime(2025, 1, 1, 0, 20)]}, "ts", "off the device's reporting grid"),
    ({"qc": [0.6]}, "qc", "not a whole number"),
    ({"qc": ["1.5"]}, "qc", "not a whole number"),
    ({"metric": ["coal"], "value": [3.0]}, "metric", "not measured by this kind of device"),
    ({"device_id": [b"M-\xff"]}, "device_id", "not valid UTF-8"),
    ({"device_id": ["M-\udcff"]}, "device_id", "not valid UTF-8"),
])
def test_implausible_readings_are_refused_naming_row_and_field(samples, change, field, reason):
    batch = _reading(**{k: pd.Series(v, dtype=object) if k != "ts" else v for k, v in change.items()})
    with Lake.open(samples) as lake:
        before = state(lake)
        with pytest.raises(SchemaViolation) as caught:
            lake.append("telemetry", batch)
        assert state(lake) == before
    message = str(caught.value)
    assert f"field {field!r}" in message and reason in message and "row 0" in message


def test_a_boolean_is_never_stored_as_a_number(samples):
    with Lake.open(samples) as lake:
        with pytest.raises(SchemaViolation, match="holds booleans"):
            lake.append("telemetry", _reading(value=[True]))


def test_aware_times_with_an_offset_in_text_are_converted_to_utc(samples):
    with Lake.open(samples) as lake:
        lake.append("telemetry", _reading(ts=["2025-01-01T08:00:00+08:00"]))
        assert lake.read("telemetry").ts.tolist() == [pd.Timestamp("2025-01-01 00:00")]


ENTRY = dict(SAMPLES["activity"].iloc[0]) | {"entry_id": "A-9"}


@pytest.mark.parametrize("change, field, reason", [
    ({"period_start": date(2025, 2, 1), "period_end": date(2025, 1, 31)}, "period_end", "before period_start"),
    ({"category": "mobile_combustion", "activity_type": "diesel", "unit": "MWh"}, "unit", "not a unit of mobile_combustion"),
    ({"amount": 5e12, "unit": "kWh"}, "amount", "implausibly large"),
    ({"amount": -3.0}, "amount", "only a reversal"),
    ({"amount": -3.0, "reverses_entry_id": "A-404"}, "reverses_entry_id", "unknown activity"),
    ({"period_start": date.today() + timedelta(days=40), "period_end": date.today() + timedelta(days=60)},
     "period_start", "lies in the future"),
])
def test_implausible_ledger_entries_are_refused(samples, change, field, reason):
    with Lake.open(samples) as lake:
        write_samples(lake, ["activity"])
        before = state(lake)
        with pytest.raises(SchemaViolation) as caught:
            lake.append("activity", pd.DataFrame([ENTRY | change]))
        assert state(lake) == before
    assert f"field {field!r}" in str(caught.value) and reason in str(caught.value)


def test_a_reversal_must_undo_exactly_one_entry_of_the_same_kind(samples):
    reversal = ENTRY | {"entry_id": "A-1-R2", "amount": -123.456, "reverses_entry_id": "A-1"}
    with Lake.open(samples) as lake:
        write_samples(lake, ["activity"])  # A-1-R already reverses A-1
        with pytest.raises(SchemaViolation, match="already reversed"):
            lake.append("activity", pd.DataFrame([reversal]))
        lake.append("activity", pd.DataFrame([ENTRY | {"amount": 10.0}]))
        for change, reason in (({"amount": -9.0}, "negative of the reversed"),
                               ({"amount": -10.0, "unit": "kWh"}, "another org, category")):
            with pytest.raises(SchemaViolation, match=reason):
                lake.append("activity", pd.DataFrame([ENTRY | {"entry_id": "A-9-R", "reverses_entry_id": "A-9"} | change]))


def test_echoed_values_are_cut_in_messages(samples):
    with Lake.open(samples) as lake:
        with pytest.raises(SchemaViolation) as caught:
            lake.append("org", pd.DataFrame([ORG | {"org_id": "x/" + "y" * 5000}]))
    line = str(caught.value).splitlines()[1]
    assert len(line) < 300 and "…" in line


# ------------------------------------------------------------------ 10. one bad ledger row
def test_a_bad_legacy_ledger_row_is_skipped_with_a_named_warning_not_every_account(samples):
    with Lake.open(samples) as lake:
        write_samples(lake, ["activity"])
        factor_library.seed(lake)  # the samples' two factor rows are not a library: add the packaged one
        legacy_insert(lake, "activity", ENTRY | {"entry_id": "A-BAD-DIESEL", "category": "mobile_combustion",
                                                 "activity_type": "diesel", "unit": "MWh", "amount": 5.0,
                                                 "status": "approved"})
        with pytest.warns(accounts.LedgerEntrySkipped, match="A-BAD-DIESEL"):
            accounts.build_accounts(lake, [2025])
        figures = accounts.account_figures(lake, "E430121-01", "2025-01").set_index("item")
    assert figures.at["dq_skipped_entries", "value"] == 1.0
    assert "A-BAD-DIESEL" in figures.at["dq_skipped_entries", "basis"]
    assert figures.at["scope2_purchased_electricity", "value"] > 0, "the good entries of the same org still count"


# ------------------------------------------------------------------ 11. a writer recovers after a lock
HOLD_LOCK = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)
db.execute("BEGIN IMMEDIATE")  # the catalog's write lock, as a long commit of another writer holds it
print("held", flush=True)
sys.stdin.readline()
db.execute("ROLLBACK")
"""


def test_a_writer_gives_up_clearly_on_a_held_lock_and_recovers_when_it_clears(samples):
    settings = Settings(lake=samples.lake, lock_timeout_s=2.0)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(samples.lake / "catalog.sqlite")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with Lake.open(settings) as lake:
            before = time.monotonic()
            with pytest.raises(LakeBusyError, match="stayed locked") as caught:
                lake.append("telemetry", SAMPLES["telemetry"])
            assert time.monotonic() - before < 60 and "nothing was written" in str(caught.value)
            holder.communicate("release\n", timeout=30)  # the other writer finishes
            result = lake.append("telemetry", SAMPLES["telemetry"])  # same process, same Lake
            assert result.inserted == len(SAMPLES["telemetry"])
    finally:
        holder.kill()


def test_a_reader_holding_an_open_result_does_not_block_a_writer(samples):
    import duckdb

    from carbonlib.lake.connection import _connect

    reader = _connect(samples, read_only=True, snapshot=None)
    pending = reader.execute("SELECT * FROM org")  # an unfetched result holds the catalog's read transaction
    try:
        with Lake.open(Settings(lake=samples.lake, lock_timeout_s=10.0)) as lake:
            assert lake.append("telemetry", SAMPLES["telemetry"]).inserted == len(SAMPLES["telemetry"])
    finally:
        pending.fetchall()
        reader.close()
    assert isinstance(reader, duckdb.DuckDBPyConnection)


def test_the_lake_has_no_public_raw_connection(samples):
    with Lake.open(samples, read_only=True) as lake:
        assert not hasattr(lake, "con")


# ------------------------------------------------------------------ 12. damaged lakes
@pytest.fixture
def secured(samples):
    """The sample lake with a security store and the scheduler's service key (the CLI acts as the scheduler)."""
    from carbonlib.security import Security

    security, _ = Security.init(samples)
    with security:
        security.create_service_account("P43")
    return samples


@pytest.fixture
def damaged(secured):
    """The sample lake with two months of production-meter telemetry (the accounts read it) in a data file."""
    samples = secured
    with Lake.open(samples) as lake:
        lake.append("device", SAMPLES["device"].iloc[:1].assign(device_id="P-1", kind="production_meter"))
        hours = pd.date_range("2025-01-01", periods=24 * 60, freq="h")
        lake.append("telemetry", pd.DataFrame({"device_id": "P-1", "metric": "clinker", "ts": hours,
                                               "value": np.full(len(hours), 40.0), "qc": np.uint8(0)}))
        files = lake.query(f"SELECT data_file FROM ducklake_list_files('{CATALOG}', 'telemetry')").data_file.tolist()
    assert files, "expected the telemetry to be written to a Parquet file"
    return samples, Path(files[0])


def test_verify_finds_a_truncated_file_and_every_command_says_so_clearly(damaged):
    settings, victim = damaged
    assert cli("lake", "verify", "--lake", str(settings.lake)).exit_code == 0
    with open(victim, "r+b") as handle:
        handle.truncate(victim.stat().st_size // 2)
    verify = cli("lake", "verify", "--lake", str(settings.lake))
    assert verify.exit_code == 1 and victim.name in verify.output and "truncated" in verify.output
    info = cli("lake", "info", "--lake", str(settings.lake))
    assert info.exit_code == 1 and "damaged" in info.output and "carbon lake verify" in info.output
    checksums = cli("lake", "checksums", "--lake", str(settings.lake))
    assert checksums.exit_code == 1 and "Traceback" not in checksums.output and "verify" in checksums.output
    build = cli("accounts", "build", "--lake", str(settings.lake))
    assert build.exit_code == 1 and "Traceback" not in build.output and "damaged" in build.output


def test_verify_finds_a_missing_file_and_a_changed_one(damaged):
    settings, victim = damaged
    data = victim.read_bytes()
    victim.write_bytes(data[:-8] + bytes(8))  # same size, other content
    changed = cli("lake", "verify", "--lake", str(settings.lake))
    assert changed.exit_code == 1 and ("SHA-256" in changed.output or "unreadable" in changed.output)
    victim.unlink()
    missing = cli("lake", "verify", "--lake", str(settings.lake), "--quick")
    assert missing.exit_code == 1 and "missing" in missing.output


def test_orphans_left_by_a_killed_write_are_listed_and_cleaned(damaged):
    settings, victim = damaged
    orphan = victim.with_name("ducklake-orphan-of-a-killed-write.parquet")
    shutil.copy(victim, orphan)
    listed = cli("lake", "verify", "--lake", str(settings.lake))
    assert listed.exit_code == 0 and "1 orphan file" in listed.output
    young = cli("lake", "verify", "--lake", str(settings.lake), "--delete-orphans")
    assert orphan.exists(), "a young file may belong to a write in progress"
    cleaned = cli("lake", "verify", "--lake", str(settings.lake), "--delete-orphans", "--older-than-hours", "0")
    assert cleaned.exit_code == 0 and not orphan.exists() and victim.exists(), (young.output, cleaned.output)


# ------------------------------------------------------------------ 13. secrets and small holes
SECRET_URI = "postgres:dbname=carbon host=127.0.0.1 port=1 user=carbon password=hunter2"


def test_catalog_passwords_are_masked_in_settings_messages_and_lake_info(tmp_path):
    settings = load_settings(lake=tmp_path / "lake", catalog=SECRET_URI)
    assert "hunter2" not in settings.catalog_display and "password=***" in settings.catalog_display
    assert mask_secrets("postgresql://carbon:hunter2@db:5432/lake") == "postgresql://carbon:***@db:5432/lake"
    result = cli("lake", "info", "--lake", str(tmp_path / "lake"), "--catalog", SECRET_URI)
    assert result.exit_code == 1 and "hunter2" not in result.output and "***" in result.output


@pytest.mark.parametrize("text, message", [("lake = [", "not valid TOML"), ("lake = 5", "must be a non-empty text"),
                                           ("colour = 'red'", "unknown setting"),
                                           ("lock_timeout_s = 'soon'", "positive number"),
                                           ("memory_limit = 'lots'", "must be a size such as '1GiB'"),
                                           ("threads = 0", "whole number >= 1")])
def test_a_bad_carbon_toml_is_a_clear_error(tmp_path, text, message):
    config = tmp_path / "carbon.toml"
    config.write_text(text)
    with pytest.raises(SettingsError, match=message):
        load_settings(config)
    result = cli("lake", "info", env={"CARBON_CONFIG": str(config)})
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output


def test_memory_limit_and_threads_come_from_the_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("CARBON_MEMORY_LIMIT", "700MiB")
    monkeypatch.setenv("CARBON_THREADS", "1")
    settings = load_settings(lake=tmp_path / "lake")
    assert (settings.memory_limit, settings.threads) == ("700MiB", 1)
    with Lake.create(settings) as lake:
        limit, threads = lake.query("SELECT current_setting('memory_limit') AS m, current_setting('threads') AS t").iloc[0]
    assert limit in ("700.0 MiB", "734.0 MB") and int(threads) == 1


@pytest.mark.slow
def test_snapshot_options_refuse_negative_and_unknown_ids(small_demo_lake):
    negative = cli("lake", "info", "--lake", str(small_demo_lake.lake), "--snapshot", "-1")
    assert negative.exit_code == 2 and "greater than or equal to 0" in negative.output
    unknown = cli("lake", "info", "--lake", str(small_demo_lake.lake), "--snapshot", "999")
    assert unknown.exit_code == 1 and "no snapshot 999" in unknown.output and "lake init" not in unknown.output


@pytest.mark.parametrize("value", ["inf", "nan", "0", "-5", "1e9", "soon"])
def test_the_monitor_refresh_parameter_is_checked(value):
    from carbonlib.viz.components import refresh_seconds

    with pytest.raises(ValueError, match="refresh=.* is not a period"):
        refresh_seconds(value)
    assert refresh_seconds("2.5") == 2.5 and refresh_seconds(None) == 5.0


def test_a_refused_login_names_no_account(secured):
    """Unknown user and wrong password get the same answer: a refusal never tells which accounts exist."""
    from carbonlib.security import LoginRefused, Security

    with Security.open(secured) as security:
        answers = []
        for user in ("t-ghost", "scheduler"):
            with pytest.raises(LoginRefused) as refused:
                security.sessions.login(user, "Wrong-password-1")
            answers.append(str(refused.value))
    assert answers[0] == answers[1] and "scheduler" not in answers[1]


def test_binder_and_conda_install_with_the_pinned_constraints():
    """conda runs pip in the environment file's folder: root for analysts, binder/ for repo2docker."""
    import yaml

    for folder in (ROOT, ROOT / "binder"):
        env = yaml.safe_load((folder / "environment.yml").read_text())
        pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
        assert pip[0] == "-c constraints.txt"
        assert (folder / "constraints.txt").resolve() == (ROOT / "constraints.txt").resolve()


# ------------------------------------------------------------------ 4. escaping (server side)
EVIL = '<img src=x onerror="window.__xss=1">'


def test_html_escapes_every_value_and_markdown_text_is_literal():
    shown = html('<div data-org="{}">{}</div>', '"><script>alert(1)</script>', EVIL)
    assert "<script>" not in shown and "<img" not in shown and "&lt;img" in shown
    from nbconvert.filters.markdown import markdown2html

    rendered = markdown2html(f"### {md_text(EVIL)} · 2025")
    assert "<img" not in rendered and "&lt;img" in rendered


def test_dashboard_panes_refuse_plain_strings():
    from carbonlib.viz.components import html as pane

    with pytest.raises(TypeError, match="carbonlib.markup.html"):
        pane(EVIL)


def test_report_cover_escapes_the_org_name():
    from nbconvert.filters.markdown import markdown2html

    from carbonlib.reporting import reports

    text = reports.cover("annual", EVIL, "E1", "2025", 3, "en", prepared_by=EVIL, figures_sha256="0" * 64)
    assert "<img" not in markdown2html(text)


# ------------------------------------------------------------------ 5. scope escape (server side)
def test_an_edited_table_cell_cannot_reach_another_counties_figures(small_demo_lake):
    """A county manager edits the org_id cell of the (disabled) table in the browser, as the probe did.

    Panel syncs the edited value back to the server's widget; the explorer must still show
    only orgs of the county, and fetch only their meters.
    """
    import panel as pn  # noqa: F401  (the views are Panel objects)

    from carbonlib.security import Grant, Principal
    from carbonlib.viz import components, data
    from carbonlib.viz.scope import Scope

    lake = Lake.open(small_demo_lake, read_only=True)
    county = Principal(1, "t-changsha-county", "county manager", grants=(Grant("manager", "D430121"),))
    scope = Scope(county, data.rollups(lake).tree, "view_figures")
    view = components.Explorer(lake, scope, lang="en", rollups=data.rollups(lake))
    mine = set(view.orgs.index)
    foreign = [o for o in data.rollups(lake).tree.org_id if o.startswith("E") and o not in mine][0]
    edited = view.table.value.copy()
    edited.loc[0, "org_id"] = foreign
    view.table.value = edited  # what the browser's edit does on the server
    view.table.selection = [0]
    rollups = data.rollups(lake)
    shown = set(view.chosen_rows().org_id)
    assert shown and shown <= mine and foreign not in shown
    foreign_name = rollups.tree.set_index("org_id").at[foreign, "name_en"]
    assert foreign_name not in view.trend.source.data["name"] and foreign_name not in view.selected.object
    foreign_meters = set(rollups.devices[rollups.devices.org_id == foreign].device_id)
    assert foreign_meters and not foreign_meters & set(view.daily.source.data["name"])

    overview = components.Overview(lake, scope, lang="en", rollups=data.rollups(lake))
    rows = overview._rows["children"]
    overview.children_table.value = rows.assign(org_id=foreign)
    overview._drill_down("children", type("Click", (), {"row": 0})())
    assert overview.org_select.value in mine
    overview.org_select.value = foreign  # a forged select value
    overview.refresh()
    assert overview.org_select.value in mine and foreign not in overview.header.object
    lake.close()


def test_the_scheduled_job_cleans_orphans_too(damaged):
    from carbonlib.reporting import pipelines

    settings, victim = damaged
    orphan = victim.with_name("ducklake-left-by-a-kill.parquet")
    shutil.copy(victim, orphan)
    old = time.time() - 2 * 86400
    os.utime(orphan, (old, old))
    assert "1 deleted" in pipelines.delete_orphan_files(settings, datetime.now())
    assert not orphan.exists() and victim.exists()
    # the nightly maintenance job deletes orphans older than its grace hours (tests/test_maintenance.py)
    assert "maintain_lake" in {job.run for job in pipelines.load_schedule().jobs.values()}
