"""The device registry (issue 11, part 1): lifecycle, instruments behind a measurement point, calibration, rights."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pandas as pd
import pytest
from typer.testing import CliRunner

from carbonlib.cli import app
from carbonlib.devices import LifecycleError, registry, service
from carbonlib.ingest import ingest_file
from carbonlib.lake import Lake
from carbonlib.lake.schema import SCHEMA_VERSION
from carbonlib.security import PermissionDenied, Security
from conftest import TEST_PASSWORD, copy_lake

SITE = "S430181-01"  # a demo forest site without a tower


@pytest.fixture
def lake(small_demo_lake, tmp_path):
    return copy_lake(small_demo_lake, tmp_path / "lake")


@pytest.fixture
def operator(lake):
    with Security.open(lake) as security:
        yield security, security.sessions.login("t-devices", TEST_PASSWORD).principal


def _tower(device_id="T-NEW", **kw) -> service.NewDevice:
    return service.NewDevice(device_id, SITE, "flux_tower", "IRGASON-EC100", "SN-A", 1800, vendor="Campbell Scientific",
                             latitude=28.1, longitude=113.6, **kw)


def _readings(path, start: str, values: list[float]):
    """A FLUXNET-style file of NEE readings for half-hours from ``start`` (UTC, utc_offset 0)."""
    stamps = pd.date_range(start, periods=len(values), freq="30min")
    lines = [f"{t:%Y%m%d%H%M},{(t + pd.Timedelta(minutes=30)):%Y%m%d%H%M},{v}" for t, v in zip(stamps, values)]
    path.write_text("TIMESTAMP_START,TIMESTAMP_END,FC\n" + "\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("state, event, after", [
    (None, "stocked", "stocked"), (None, "installed", "active"), ("stocked", "installed", "active"),
    ("active", "calibrated", "active"), ("removed", "repaired", "removed"), ("active", "replaced", "active"),
    ("active", "removed", "removed"), ("removed", "installed", "active"), ("active", "lost", "lost"),
    ("lost", "retired", "retired"), ("retired", "scrapped", "scrapped"), ("stocked", "scrapped", "scrapped"),
])
def test_allowed_transitions(state, event, after):
    assert registry.next_state(state, event) == after


@pytest.mark.parametrize("state, event", [
    ("active", "installed"), ("stocked", "replaced"), ("retired", "installed"), ("scrapped", "repaired"),
    ("active", "scrapped"), ("lost", "calibrated"), ("active", "stocked"), (None, "calibrated"),
])
def test_refused_transitions_name_what_is_possible(state, event):
    with pytest.raises(LifecycleError, match="possible now"):
        registry.next_state(state, event)


def test_a_replacement_keeps_the_series_and_every_reading_knows_its_instrument(lake, operator, tmp_path):
    security, principal = operator
    start = datetime(2026, 1, 10, 0, 0)
    row = service.register(security, principal, lake, _tower(calibration_due=date(2027, 1, 31)), installed_at=start)
    assert row.status == "active" and row.serial_no == "SN-A"
    with Lake.open(lake) as opened:
        ingest_file(opened, _readings(tmp_path / "a.csv", "2026-01-10 00:00", [-2.0, -3.0]), device_id="T-NEW",
                    utc_offset=0)
    service.record_event(security, principal, lake, "T-NEW", "replaced", at=datetime(2026, 1, 10, 1, 0),
                         serial_no="SN-B", model="IRGASON-EC100", calibration_due=date(2027, 1, 10),
                         note="analyser drifting")
    with Lake.open(lake) as opened:
        ingest_file(opened, _readings(tmp_path / "b.csv", "2026-01-10 01:00", [-4.0, -5.0]), device_id="T-NEW",
                    utc_offset=0)
        series = opened.query("SELECT ts, value FROM lake.telemetry WHERE device_id = 'T-NEW' AND metric = 'NEE'")
        traced = registry.with_provenance(series, registry.instrument_periods(opened, "T-NEW"))
    assert traced.value.tolist() == [-2.0, -3.0, -4.0, -5.0]  # one continuous series on the point
    assert traced.serial_no.tolist() == ["SN-A", "SN-A", "SN-B", "SN-B"]
    assert traced.calibration_due.astype(str).tolist() == ["2027-01-31"] * 2 + ["2027-01-10"] * 2
    audited = security.audit.entries(actor="t-devices", action="operate_devices", limit=5)
    assert any("replaced: active -> active, instrument SN-B" in e.detail for e in audited)


def test_readings_are_accepted_only_while_the_device_was_installed_and_active(lake, operator, tmp_path):
    security, principal = operator
    service.register(security, principal, lake, _tower(), installed_at=datetime(2026, 1, 1), stocked=True)
    january = _readings(tmp_path / "r.csv", "2026-01-10 00:00", [-2.0])
    with Lake.open(lake) as opened:  # stocked on 2026-01-01: the reading of 10 January is quarantined
        stocked = ingest_file(opened, january, device_id="T-NEW", utc_offset=0)
        reason = opened.query("SELECT reason FROM lake.telemetry_reject WHERE source = 'r.csv'").reason
    assert (stocked.inserted, stocked.rejected) == (0, 1)
    assert "not installed and active" in reason.iloc[0] and "stocked" in reason.iloc[0]
    service.record_event(security, principal, lake, "T-NEW", "installed", at=datetime(2026, 1, 2))
    with Lake.open(lake) as opened:
        assert ingest_file(opened, january, device_id="T-NEW", utc_offset=0).inserted == 1
    service.record_event(security, principal, lake, "T-NEW", "retired", at=datetime(2026, 2, 1))
    # the logger's file, fetched after the retirement: the half-hours before it go in, the ones after it do not
    late = _readings(tmp_path / "late.csv", "2026-01-31 23:00", [-1.0, -1.5, -2.5, -3.5])
    with Lake.open(lake) as opened:
        fetched = ingest_file(opened, late, device_id="T-NEW", utc_offset=0)
        kept = opened.query("SELECT ts FROM lake.telemetry WHERE device_id = 'T-NEW' AND ts >= '2026-01-31' "
                            "ORDER BY ts").ts
        refused = opened.query("SELECT count(*) AS n FROM lake.telemetry_reject WHERE source = 'late.csv' "
                               "AND reason LIKE '%not installed and active%'").n[0]
    assert (fetched.inserted, fetched.rejected) == (2, 2) and refused == 2
    assert [f"{t:%H:%M}" for t in kept] == ["23:00", "23:30"]
    with pytest.raises(LifecycleError, match="retired cannot be installed"):
        service.record_event(security, principal, lake, "T-NEW", "installed", at=datetime(2026, 2, 2))
    with pytest.raises(LifecycleError, match="not after its latest event"):
        service.record_event(security, principal, lake, "T-NEW", "scrapped", at=datetime(2026, 1, 15))
    service.record_event(security, principal, lake, "T-NEW", "scrapped", at=datetime(2026, 2, 3))
    with Lake.open(lake, read_only=True) as opened:
        assert registry.history(opened, "T-NEW").state_after.tolist() == ["stocked", "active", "retired", "scrapped"]


def test_calibration_overdue_is_visible(lake, operator):
    security, principal = operator
    service.register(security, principal, lake, _tower(calibration_due=date.today() - timedelta(days=3)))
    with Lake.open(lake, read_only=True) as opened:
        overdue = registry.calibration_overdue(opened)
    assert "T-NEW" in set(overdue.device_id)
    service.record_event(security, principal, lake, "T-NEW", "calibrated", calibration_due=date.today() + timedelta(days=365))
    with Lake.open(lake, read_only=True) as opened:
        assert "T-NEW" not in set(registry.calibration_overdue(opened).device_id)
        assert registry.devices(opened, device_ids=["T-NEW"]).calibrated_at.notna().all()


def test_only_operators_of_the_subtree_change_the_registry(lake):
    with Security.open(lake) as security:
        manager = security.sessions.login("t-province", TEST_PASSWORD).principal
        with pytest.raises(PermissionDenied, match="operate devices"):
            service.register(security, manager, lake, _tower())
        county = security.sessions.login("t-changsha-county", TEST_PASSWORD).principal  # manager of D430121
        listed = service.listing(security, county, lake)
    with Lake.open(lake, read_only=True) as opened:
        from carbonlib.accounting import views

        paths = views.org_paths(opened)
        inside = {d for d, o in zip(registry.devices(opened).device_id, registry.devices(opened).org_id)
                  if "D430121" in paths[o].split("/")}
    assert set(listed.device_id) == inside and len(inside) > 0
    with Lake.open(lake, read_only=True) as opened:
        assert opened.query("SELECT count(*) AS n FROM lake.device WHERE device_id = 'T-NEW'").n[0] == 0


def test_a_batch_written_for_schema_v1_still_registers_a_device(lake):
    with Lake.open(lake) as opened:
        opened.append("device", pd.DataFrame([dict(device_id="M-OLD", org_id="E430121-01", kind="electricity_meter",
                                                   model="DTSD1352", serial_no="SN9", interval_s=3600,
                                                   installed_on=date(2025, 1, 1))]))
        stored = opened.query("SELECT vendor, calibration_due FROM lake.device WHERE device_id = 'M-OLD'")
    assert stored.vendor.isna().all() and stored.calibration_due.isna().all()


def test_a_schema_v1_lake_is_migrated_with_its_rows(lake):
    with Lake.open(lake) as opened:
        before = opened.query("SELECT count(*) AS n FROM lake.device_event").n[0]
        for table, columns in {"device": ["vendor", "latitude", "longitude", "calibration_due"],
                               "device_event": ["serial_no", "model", "calibration_due"]}.items():
            for column in columns:
                opened._con.execute(f"ALTER TABLE lake.{table} DROP COLUMN {column}")
        opened._con.execute("DROP TABLE lake.alert_event")  # added by version 3
        opened._con.execute("DROP TABLE lake.activity_review")  # added by version 4
        opened._con.execute("DROP TABLE lake.cap_request")  # added by version 5
        opened._con.execute("DROP TABLE lake.cap_decision")
        opened._con.execute("DELETE FROM lake.emission_factor WHERE subject IN ('raw_coal', 'msw')")
        opened._con.execute("ALTER TABLE lake.emission_factor DROP COLUMN effective_year")
        # retired in September 2026 (the demo retires at build time): the old convention reads cap year 2025
        opened._con.execute("UPDATE lake.credit_event SET event_time = TIMESTAMP '2026-09-30 08:00:00' "
                            "WHERE event_type = 'retire'")
        retirements = opened.query("SELECT event_id, purpose, cap_year, beneficiary FROM lake.credit_event "
                                   "WHERE event_type = 'retire' ORDER BY event_id")
        for column in ("op_seq", "purpose", "cap_year", "beneficiary", "price_cny"):  # added by version 6
            opened._con.execute(f"ALTER TABLE lake.credit_event DROP COLUMN {column}")
        opened._con.execute("ALTER TABLE lake.forest_stand DROP COLUMN boundary_wkt")  # added by version 7
        opened._con.execute("DROP TABLE lake.project_stand")
        opened._con.execute("ALTER TABLE lake.org DROP COLUMN opened_on")  # added by version 8
        opened._con.execute("DROP TABLE lake.org_change")
        opened.set_meta("schema_version", "1")
    result = CliRunner().invoke(app, ["lake", "migrate", "--lake", str(lake.lake)], env={"CARBON_LANG": "en"})
    assert result.exit_code == 0, result.output
    assert "packaged factor rows added" in result.output  # raw coal and the MSW parameters a newer carbonlib ships
    with Lake.open(lake, read_only=True) as opened:
        assert opened.schema_version == SCHEMA_VERSION == 9
        assert opened.read("org").opened_on.isna().all()  # open since before any data
        assert opened.query("SELECT count(*) AS n FROM lake.org_change").n[0] == 0
        claimed = opened.query("SELECT c.project_id, s.org_id FROM lake.project_stand AS c JOIN lake.forest_stand AS s "
                               "USING (stand_id) JOIN lake.credit_project AS p USING (project_id) WHERE p.org_id = s.org_id")
        assert len(claimed) == opened.query("SELECT count(*) AS n FROM lake.project_stand").n[0] > 0  # its site's stands
        assert opened.read("forest_stand").boundary_wkt.isna().all()
        assert opened.query("SELECT count(*) AS n FROM lake.alert_event").n[0] == 0
        assert opened.query("SELECT count(*) AS n FROM lake.activity_review").n[0] == 0
        assert opened.query("SELECT count(*) AS n FROM lake.cap_request").n[0] == 0
        factors = opened.read("emission_factor")
        assert {"ncv:raw_coal:gbt2589", "waste_n2o:msw:ipcc2006"} <= set(factors.factor_id)
        assert factors.effective_year.isna().all()
        assert opened.query("SELECT count(*) AS n FROM lake.device_event WHERE serial_no IS NULL").n[0] == before
        assert len(registry.devices(opened)) > 0
        # the demo's buyers retired for their 2025 caps: what the migration reads from the old convention
        migrated = opened.query("SELECT event_id, purpose, cap_year, beneficiary FROM lake.credit_event "
                                "WHERE event_type = 'retire' ORDER BY event_id")
        assert len(retirements) and migrated.equals(retirements.astype(migrated.dtypes.to_dict()))


def test_the_command_line_registers_records_and_lists(lake, tmp_path, monkeypatch):
    env, cli = {"CARBON_LANG": "en"}, CliRunner()
    monkeypatch.setenv("CARBON_SESSION_FILE", str(tmp_path / "session"))
    scheduler = cli.invoke(app, ["devices", "register", "T-CLI", "--org", SITE, "--kind", "flux_tower", "--model", "X",
                                 "--serial", "S1", "--interval-s", "1800", "--lake", str(lake.lake)], env=env)
    assert scheduler.exit_code == 1 and "may not operate devices" in scheduler.output  # least privilege
    login = cli.invoke(app, ["login", "--lake", str(lake.lake), "--user", "t-devices"], input=f"{TEST_PASSWORD}\n",
                       env=env)
    assert login.exit_code == 0, login.output
    registered = cli.invoke(app, ["devices", "register", "T-CLI", "--org", SITE, "--kind", "flux_tower", "--model", "X",
                                  "--serial", "S1", "--interval-s", "1800", "--calibration-due", "2020-01-01",
                                  "--lake", str(lake.lake)], env=env)
    assert registered.exit_code == 0 and "CALIBRATION OVERDUE" in registered.output, registered.output
    wrong = cli.invoke(app, ["devices", "event", "T-CLI", "stocked", "--lake", str(lake.lake)], env=env)
    assert wrong.exit_code == 1 and "possible now" in wrong.output and "Traceback" not in wrong.output
    moved = cli.invoke(app, ["devices", "event", "T-CLI", "removed", "--note", "storm damage", "--lake", str(lake.lake)],
                       env=env)
    assert moved.exit_code == 0 and " removed " in moved.output
    listed = cli.invoke(app, ["devices", "list", "--overdue", "--json", "--lake", str(lake.lake)], env=env)
    assert listed.exit_code == 0
    overdue = {d["device_id"]: d for d in json.loads(listed.output)}
    assert "T-CLI" not in overdue  # removed: no longer measuring, so not overdue
    history = cli.invoke(app, ["devices", "history", "T-CLI", "--json", "--lake", str(lake.lake)], env=env)
    assert [e["event_type"] for e in json.loads(history.output)["events"]] == ["installed", "removed"]
