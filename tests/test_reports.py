"""Report batches (papermill on real kernels against a copy of the small demo lake).

Figures in the exported tables and HTML equal ``accounts.account_figures``; outputs and the
manifest are complete; runs are idempotent, isolated from each other's failures, recorded in
``report_run``, and reproducible when pinned to their snapshot.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from pathlib import Path

import nbformat
import openpyxl
import pandas as pd
import pypdf
import pytest

from carbonlib.accounting import accounts
from carbonlib.reporting import reports
from carbonlib.lake import Lake

from conftest import copy_lake  # noqa: E402

pytestmark = pytest.mark.slow
CAPPED = "E430121-02"  # a capped power plant of the demo province


def _copy_lake(settings, target: Path):
    return copy_lake(settings, target)


@pytest.fixture(scope="module")
def lake_copy(small_demo_lake, tmp_path_factory):
    return _copy_lake(small_demo_lake, tmp_path_factory.mktemp("reports") / "lake")


@pytest.fixture(scope="module")
def monthly(lake_copy, tmp_path_factory):
    """Two reports in parallel, with a relative --out, run from a working folder of their own."""
    work = tmp_path_factory.mktemp("work")
    before = os.getcwd()
    os.chdir(work)
    try:
        result = reports.run_batch(lake_copy, "monthly", "2025-10", orgs=["P43", CAPPED], out_dir="out", workers=2,
                                   lang="en", progress=False)
        assert os.getcwd() == str(work), "a report batch changed the process's working folder"
    finally:
        os.chdir(before)
    return result, work / "out"


def _expected(settings, org_id, period, snapshot) -> pd.DataFrame:
    with Lake.open(settings, read_only=True) as lake:
        return accounts.account_figures(lake, org_id, period, snapshot=snapshot).set_index("item")


def _visible_text(html: str) -> str:
    return re.sub(r"<script.*?</script>", "", html, flags=re.S)


def _remote_loads(html: str) -> list[str]:
    """Addresses the HTML would fetch when opened: scripts, styles, images, frames, CSS imports and url()s."""
    tags = re.findall(r"<(?:script|link|img|iframe|source|embed|object)\b[^>]*?(?:src|href|data)=[\"']?(https?://[^\"' >]+)",
                      html, flags=re.I)
    return tags + re.findall(r"(?:@import\s+|url\()[\"']?(https?://[^)\"' ;]+)", html, flags=re.I)


def test_the_report_tells_actual_cap_use_from_the_projection(lake_copy):
    """Issue 9: the annual report said "within the cap" where `carbon accounts caps` projected an overrun.  Its cap
    table now shows both: the actual use and the projection of caps.cap_status, with a status naming which is over."""
    from datetime import date

    from carbonlib.accounting import caps as cap_rules

    with Lake.open(lake_copy, read_only=True) as lake:
        snapshot = reports.data_snapshot(lake)
        table = reports.cap_status(lake, "P43", "2025", snapshot)
        assert len(table) > 0
        for row in table.itertuples():
            status = cap_rules.cap_status(lake, row.org_id, 2025, as_of=date(2025, 12, 31), snapshot=snapshot)
            assert row.projected_tco2e == pytest.approx(status.projected, rel=1e-12)
            assert row.status == ("over" if row.emitted_tco2e > row.cap_tco2e else
                                  "projected_over" if status.projected > row.cap_tco2e else "within")
            assert row.over_cap == (status.alert or row.emitted_tco2e > row.cap_tco2e)
        shown = reports.caps_view(table, "en").to_html()
        assert "projected year end (tCO₂e)" in shown and "used to date" in shown


def test_monthly_figures_equal_the_accounts_in_csv_xlsx_and_html(monthly, lake_copy):
    result, _ = monthly
    assert [r.status for r in result.records] == ["ok", "ok"], [r.error for r in result.records]
    for record in result.records:
        expected = _expected(lake_copy, record.org_id, "2025-10", record.snapshot_id)
        table = pd.read_csv(record.table_path).set_index("item")
        assert set(table.index) == set(expected.index)
        pd.testing.assert_series_equal(table.value.sort_index(), expected.value.sort_index(), rtol=1e-12, check_dtype=False)
        sheet = openpyxl.load_workbook(record.xlsx_path)["figures"]
        header = [c.value for c in sheet[1]]
        xlsx = {row[header.index("item")]: row[header.index("value")] for row in sheet.iter_rows(min_row=2, values_only=True)}
        assert xlsx == pytest.approx(expected.value.to_dict(), rel=1e-12)
        html = Path(record.html_path).read_text(encoding="utf-8")
        kpi = reports.format_value(expected.at["emissions_total", "value"], "tCO2e")
        assert kpi in _visible_text(html), kpi
        assert f"lake snapshot: {record.snapshot_id}" in _visible_text(html)
        assert not _remote_loads(html), f"the report loads {_remote_loads(html)[:3]} from the network"
        assert 'src="data:image/svg+xml;base64,' in html and "bokeh" not in html.lower()  # static SVG charts only
        assert "reports.collect(" not in html  # input cells hidden


def test_manifest_lists_every_run_with_checksums_and_the_lake_records_them(monthly, lake_copy):
    result, out = monthly
    manifest = json.loads(result.manifest_path.read_text())
    assert result.manifest_path == out / "monthly" / "2025-10" / "manifest.json"
    assert manifest["kind"] == "monthly" and manifest["period"] == "2025-10"
    assert manifest["counts"] == {"ok": 2, "skipped": 0, "failed": 0}
    assert manifest["pdf"] == "not requested"
    assert all(run["pdf_path"] is None for run in manifest["runs"])
    with Lake.open(lake_copy, read_only=True) as lake:
        assert manifest["snapshot_id"] == reports.data_snapshot(lake)
        runs = lake.read("report_run")
    for run in manifest["runs"]:
        assert run["snapshot_id"] == manifest["snapshot_id"] and run["seconds"] > 0
        for name, digest in run["checksums"].items():
            assert reports.sha256_file(Path(run["html_path"]).parent / name) == digest
        assert run["figures_sha256"] == run["checksums"]["figures.csv"]
        recorded = runs[runs.run_id == run["run_id"]].iloc[0]
        assert recorded.status == "ok" and recorded.figures_sha256 == run["figures_sha256"]


def test_rerun_skips_up_to_date_reports_and_force_reruns(monthly, lake_copy):
    result, out = monthly
    before = {r.org_id: reports.sha256_file(Path(r.notebook_path)) for r in result.records}
    again = reports.run_batch(lake_copy, "monthly", "2025-10", orgs=["P43", CAPPED], out_dir=out, lang="en", progress=False)
    assert [r.status for r in again.records] == ["skipped", "skipped"]
    assert {r.org_id: reports.sha256_file(Path(r.notebook_path)) for r in again.records} == before
    assert [r.figures_sha256 for r in again.records] == [r.figures_sha256 for r in result.records]
    forced = reports.run_batch(lake_copy, "monthly", "2025-10", orgs=[CAPPED], out_dir=out, lang="en", force=True,
                               progress=False)
    assert forced.records[0].status == "ok"
    assert forced.records[0].figures_sha256 == result.by_org()[CAPPED].figures_sha256


def test_a_failing_notebook_does_not_stop_the_batch(lake_copy, tmp_path):
    nb = nbformat.read(reports.NOTEBOOKS["monthly"], as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    nb.cells.insert(at + 2, nbformat.v4.new_code_cell(f'if org_id == "{CAPPED}":\n    raise RuntimeError("meter feed missing")'))
    broken = tmp_path / "monthly_broken.ipynb"
    nbformat.write(nb, broken)
    result = reports.run_batch(lake_copy, "monthly", "2025-10", orgs=["E430121-01", CAPPED], out_dir=tmp_path / "out",
                               notebook=broken, progress=False)
    by_org = result.by_org()
    assert by_org["E430121-01"].status == "ok"
    failed = by_org[CAPPED]
    assert failed.status == "failed" and failed.html_path is None
    # papermill inserts the injected-parameters cell after the parameters cell: the raising cell is at + 3
    assert failed.error.startswith(f"cell {at + 3} (In [") and "RuntimeError: meter feed missing" in failed.error
    assert Path(failed.notebook_path).is_file()  # the partial notebook is kept
    manifest = json.loads(result.manifest_path.read_text())
    assert manifest["counts"]["failed"] == 1
    with Lake.open(lake_copy, read_only=True) as lake:
        row = lake.read("report_run", where="run_id = ?", params=[failed.run_id]).iloc[0]
    assert row.status == "failed" and "meter feed missing" in row.error


def test_a_batch_reuses_a_warm_kernel_and_a_failure_gets_the_next_report_a_fresh_one(lake_copy, tmp_path):
    """One worker, three reports: the first fails, so the second starts a new kernel, which the third reuses (its
    start and imports are most of a small report's time); the reused kernel gives the same figures as a cold one."""
    nb = nbformat.read(reports.NOTEBOOKS["monthly"], as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell(
        'import os\nwith open(os.path.join(export_dir, "kernel.pid"), "w") as f:\n    f.write(str(os.getpid()))'))
    nb.cells.insert(at + 2, nbformat.v4.new_code_cell(f'if org_id == "{CAPPED}":\n    raise RuntimeError("meter feed missing")'))
    marked = tmp_path / "monthly_marked.ipynb"
    nbformat.write(nb, marked)
    orgs = [CAPPED, "E430121-01", "E430121-03"]
    result = reports.run_batch(lake_copy, "monthly", "2025-10", orgs=orgs, out_dir=tmp_path / "warm", notebook=marked,
                               workers=1, progress=False)
    assert [result.by_org()[o].status for o in orgs] == ["failed", "ok", "ok"], [r.error for r in result.records]
    pids = [int((tmp_path / "warm" / "monthly" / "2025-10" / o / "kernel.pid").read_text()) for o in orgs]
    assert pids[0] != pids[1] == pids[2] != os.getpid()
    cold = reports.run_batch(lake_copy, "monthly", "2025-10", orgs=["E430121-03"], out_dir=tmp_path / "cold",
                             progress=False)
    assert cold.records[0].figures_sha256 == result.by_org()["E430121-03"].figures_sha256
    import psutil

    assert not [p for p in psutil.Process().children(recursive=True) if "ipykernel" in " ".join(p.cmdline())]


def test_annual_report_and_public_disclosure(lake_copy, tmp_path):
    annual = reports.run_batch(lake_copy, "annual", "2025", orgs=[CAPPED], out_dir=tmp_path, progress=False,
                               pdf=True, prepared_by="王 Reviewer").records[0]
    assert annual.status == "ok", annual.error
    # the annual report is also printed to PDF (CI installs Debian's chromium for the browser tests)
    assert reports.pdf_converter(), "install chromium (apt-get install -y chromium) for PDF reports"
    assert Path(annual.pdf_path).read_bytes()[:5] == b"%PDF-"
    # the PDF carries the document's title and cover (was titled 'Notebook'); A4 pages (595 x 842 pt)
    pdf = pypdf.PdfReader(annual.pdf_path)
    title = "年度碳源碳汇报告 · 长沙电厂2号有限公司 (E430121-02) · 2025年"
    assert pdf.metadata.title == title
    assert f"<title>{title}</title>" in Path(annual.html_path).read_text(encoding="utf-8")
    first = re.sub(r"\s+", "", unicodedata.normalize("NFKC", pdf.pages[0].extract_text()))
    # (the extracted text may name 长 by its radical form ⻓, U+2ED3, which NFKC leaves alone: match after it)
    for fact in ("年度碳源碳汇报告", "沙电厂2号有限公司(E430121-02)", "编制:王Reviewer", f"数据快照:{annual.snapshot_id}",
                 accounts.METHOD_VERSION, annual.figures_sha256, "主要指标", "排放总量"):
        assert fact in first, fact
    assert all(round(float(page.mediabox.width)) == 595 and round(float(page.mediabox.height)) == 842
               for page in pdf.pages)
    expected = _expected(lake_copy, CAPPED, "2025", annual.snapshot_id)
    table = pd.read_csv(annual.table_path).set_index("item")
    assert table.at["cap_utilisation", "value"] == pytest.approx(expected.at["cap_utilisation", "value"], rel=1e-12)
    html = _visible_text(Path(annual.html_path).read_text(encoding="utf-8"))
    assert reports.format_value(expected.at["cap_utilisation", "value"], "share") in html
    # opens like a document (issue 9): title, organisation and period, issue date, preparer, snapshot, method
    # version and the checksum of figures.csv; then sections and table headers in the report's language only
    cover = html[:html.index("主要指标")]
    for fact in ("年度碳源碳汇报告", "长沙电厂2号有限公司 (E430121-02) · 2025年", "签发日期", "编制: 王 Reviewer",
                 f"数据快照: {annual.snapshot_id}", accounts.METHOD_VERSION, annual.figures_sha256):
        assert fact in cover, fact
    assert annual.figures_sha256 == reports.sha256_file(Path(annual.table_path))
    for header in ("核算数据", "计量单位", "年度配额 (tCO₂e)", "预计全年排放 (tCO₂e)", "状态", "附录：拒收记录"):
        assert header in html, header
    assert "监测边界内的温室气体排放（第 3.2 条）" in html  # the removals rule in words (clause 3.2)
    for developer_text in ("Prerequisites", "make demo", "Overview", "reports.collect", "Headline"):
        assert developer_text not in html, developer_text

    county = "D430121"
    public = reports.run_batch(lake_copy, "disclosure", "2025", orgs=[county], out_dir=tmp_path, progress=False).records[0]
    assert public.status == "ok", public.error
    figures = pd.read_csv(public.table_path)
    assert set(figures["item"]) == set(reports.DISCLOSED_ITEMS)
    with Lake.open(lake_copy, read_only=True) as lake:
        orgs = list(reports.subtree(lake, county, public.snapshot_id).org_id)
        ledger = lake.read("activity", where=f"org_id IN ({', '.join('?' for _ in orgs)})", params=orgs)
        for org in orgs:
            want = accounts.account_figures(lake, org, "2025", snapshot=public.snapshot_id).set_index("item").value
            got = figures[figures.org_id == org].set_index("item").value
            assert got.to_dict() == pytest.approx(want.reindex(reports.DISCLOSED_ITEMS).fillna(0.0).to_dict(), rel=1e-12)
    published = "\n".join(Path(p).read_text(encoding="utf-8") for p in (public.html_path, public.notebook_path, public.table_path))
    published += "\n".join(str(c.value) for ws in openpyxl.load_workbook(public.xlsx_path) for row in ws for c in row)
    assert len(ledger) > 0
    for ref in set(ledger.evidence_ref):
        assert ref not in published, f"evidence reference {ref} must not be disclosed"
    for amount in ledger.amount[ledger.amount > 1000]:
        assert f"{amount:,.1f}" not in published and repr(float(amount)) not in published
    for item in ("purchased_electricity_mwh", "scope1_stationary_combustion", "memo_biomass_fuel_t"):
        assert item not in _visible_text(published)


def test_report_pinned_to_its_snapshot_reproduces_its_figures_after_new_data(small_demo_lake, tmp_path):
    settings = _copy_lake(small_demo_lake, tmp_path / "lake")
    first = reports.run_batch(settings, "monthly", "2025-10", orgs=[CAPPED], out_dir=tmp_path / "a", progress=False).records[0]
    entry = pd.DataFrame([{
        "entry_id": "A-TEST-late-diesel", "org_id": CAPPED, "period_start": pd.Timestamp("2025-10-01"),
        "period_end": pd.Timestamp("2025-10-31"), "category": "mobile_combustion", "activity_type": "diesel",
        "amount": 120.0, "unit": "t", "evidence_ref": "INV-TEST-LATE", "author": "test", "status": "approved",
        "entered_at": pd.Timestamp("2025-11-20 08:00"), "reverses_entry_id": None}])
    with Lake.open(settings) as lake:
        lake.append("activity", entry, source="test")
        accounts.build_accounts(lake, [2025])
    pinned = reports.run_batch(settings, "monthly", "2025-10", orgs=[CAPPED], out_dir=tmp_path / "b",
                               snapshot=first.snapshot_id, progress=False).records[0]
    latest = reports.run_batch(settings, "monthly", "2025-10", orgs=[CAPPED], out_dir=tmp_path / "c", progress=False).records[0]
    assert pinned.snapshot_id == first.snapshot_id < latest.snapshot_id
    assert Path(pinned.table_path).read_bytes() == Path(first.table_path).read_bytes()
    assert pinned.figures_sha256 == first.figures_sha256 != latest.figures_sha256


def test_bad_batch_input_names_the_problem(lake_copy, tmp_path):
    with pytest.raises(ValueError, match=r"unknown org id\(s\) E999 at snapshot"):
        reports.run_batch(lake_copy, "monthly", "2025-10", orgs=["E999"], out_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="'2025-13' is not a period label"):
        reports.run_batch(lake_copy, "monthly", "2025-13", out_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="monthly reports cover a period written YYYY-MM, not '2025'; for a whole "
                       "year run --kind annual"):
        reports.run_batch(lake_copy, "monthly", "2025", out_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="annual reports cover a period written YYYY, not '2025-10'"):
        reports.run_batch(lake_copy, "annual", "2025-10", out_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="report kind 'weekly' is unknown"):
        reports.run_batch(lake_copy, "weekly", "2025-10", out_dir=tmp_path, progress=False)
    with Lake.open(lake_copy, read_only=True) as lake, pytest.raises(ValueError, match="no account figures .* '2031-01'"):
        reports.collect(lake, "P43", "2031-01")


def test_cli_reports_run(monthly, lake_copy):
    from typer.testing import CliRunner

    from carbonlib.cli.reports import reports_app

    _, out = monthly
    runner = CliRunner()
    ok = runner.invoke(reports_app, ["run", "--period", "2025-10", "--org", "P43", "--lake", str(lake_copy.lake),
                                     "--out", str(out), "--lang", "en", "--no-progress"])
    assert ok.exit_code == 0, ok.output
    assert "skipped P43" in ok.output and "manifest:" in ok.output
    bad = runner.invoke(reports_app, ["run", "--period", "2025-13", "--lake", str(lake_copy.lake)])
    assert bad.exit_code == 2 and "not a period label" in bad.output
    year = runner.invoke(reports_app, ["run", "--kind", "monthly", "--period", "2025", "--lake", str(lake_copy.lake)])
    assert year.exit_code == 2 and "--kind annual" in year.output
    unknown = runner.invoke(reports_app, ["run", "--period", "2025-10", "--org", "E999", "--lake", str(lake_copy.lake)])
    assert unknown.exit_code == 1 and "E999" in unknown.output


def test_connection_folders_of_a_killed_process_are_removed(tmp_path, monkeypatch):
    """A process with warm report kernels that was killed (no exit handlers) leaves its kernels' connection-file
    folder behind; the next process to start a warm kernel removes it, and keeps those of live processes."""
    import subprocess
    import sys
    import tempfile

    from carbonlib.reporting import reports

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead, live, mine = (tmp_path / f"carbon-kernels-{pid}-abc123" for pid in (gone.stdout.strip(), os.getppid(), os.getpid()))
    for folder in (dead, live, mine):
        folder.mkdir()
        (folder / "w1-1").write_text("{}")
    other = tmp_path / "carbon-kernels-x1y2z3"  # a report run's own temporary folder (no pid): not touched
    other.mkdir()
    reports._remove_orphaned_sockets()
    assert not dead.exists() and live.exists() and mine.exists() and other.exists()


def test_the_figures_table_says_exact_for_caps_and_no_estimate_when_there_is_none():
    """The report's 95 % interval column: both ends equal to the value (a cap, a count) read 'exact', not 'x – x'."""
    from carbonlib.reporting import reports

    figures = pd.DataFrame({"label_zh": ["配额", "碳汇量", "排放总量"], "label_en": ["Emission cap", "Removals", "Total"],
                            "value": [1000.0, 500.0, 800.0], "unit": ["tCO2e"] * 3,
                            "ci95_low": [1000.0, 450.0, None], "ci95_high": [1000.0, 550.0, None]})
    for lang, exact, none in (("en", "exact", "no estimate"), ("zh", "精确值", "无估计")):
        shown = reports.figures_view(figures, lang).data.iloc[:, -1].tolist()
        assert shown == [exact, "450 – 550", none]
