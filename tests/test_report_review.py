"""Report review (carbonlib.reporting.review): four eyes, scope, checksums, a signed cover in HTML and PDF, audit.

A manager of the province prepares the annual report of Zhuzhou (C4302) through the reporting
service; reviewers are provisioned here: one over the province, one over Changsha County
only (outside Zhuzhou), and the manager also holds the reviewer role (so only the four-eyes
rule stops it).
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import pypdf
import pytest
from conftest import TEST_PASSWORD, copy_lake
from typer.testing import CliRunner

from carbonlib.cli import app
from carbonlib.reporting import review, service
from carbonlib.security import PermissionDenied, Security

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def prepared(small_demo_lake, tmp_path_factory):
    """(lake settings, the report's folder) of an annual report prepared by 'prep-manager' with a PDF."""
    root = tmp_path_factory.mktemp("review")
    settings = copy_lake(small_demo_lake, root / "lake")
    with Security.open(settings) as security:
        for username, grants in (("prep-manager", [("manager", "P43"), ("reviewer", "P43")]),
                                 ("rev-province", [("reviewer", "P43")]), ("rev-county", [("reviewer", "D430121")])):
            security.provision(username, {"rev-province": "李 审核员"}.get(username, username), grants=grants,
                               password=TEST_PASSWORD, must_change=False)
        preparer = security.sessions.login("prep-manager", TEST_PASSWORD).principal
        result = service.run_reports(security, preparer, settings, "annual", "2025", orgs=["C4302"],
                                     out_dir=root / "reports", progress=False, pdf=True)
    record = result.records[0]
    assert record.status == "ok", record.error
    return settings, Path(record.html_path).parent


def _login(settings, username):
    security = Security.open(settings)
    return security, security.sessions.login(username, TEST_PASSWORD).principal


def test_a_report_waits_for_review_and_only_another_reviewer_in_scope_may_sign(prepared):
    settings, run_dir = prepared
    record = review.load_run(run_dir)
    assert record.preparer == "prep-manager" and record.reviewed_by is None
    assert "审核: （待审核）" in Path(record.html_path).read_text(encoding="utf-8")
    security, preparer = _login(settings, "prep-manager")
    with security, pytest.raises(PermissionDenied, match="prepared .* may not review it \\(four eyes\\)"):
        review.review_report(security, preparer, settings, run_dir)
    security, outsider = _login(settings, "rev-county")
    with security, pytest.raises(PermissionDenied, match="may not review reports on C4302"):
        review.review_report(security, outsider, settings, run_dir)
    with Security.open(settings) as security:
        refused = security.audit.entries(action="review_reports", limit=5)
        assert {(e.actor, e.outcome) for e in refused} == {("prep-manager", "denied"), ("rev-county", "denied")}
    assert review.load_run(run_dir).reviewed_by is None  # nothing signed


def test_a_changed_output_cannot_be_signed(prepared, tmp_path):
    import shutil

    settings, run_dir = prepared
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    record = json.loads((copy / "run.json").read_text())
    record["table_path"] = str(copy / "figures.csv")
    (copy / "run.json").write_text(json.dumps(record))
    (copy / "figures.csv").write_text((copy / "figures.csv").read_text().replace("C4302", "C4301", 1))
    security, reviewer = _login(settings, "rev-province")
    with security, pytest.raises(ValueError, match="figures.csv changed since the report was made"):
        review.review_report(security, reviewer, settings, copy)


def test_the_reviewer_signs_the_cover_of_the_html_and_the_pdf_once(prepared, tmp_path, monkeypatch):
    settings, run_dir = prepared
    monkeypatch.setenv("CARBON_SESSION_FILE", str(tmp_path / "session"))
    result = CliRunner().invoke(app, ["login", "--lake", str(settings.lake), "--user", "rev-province"],
                                input=f"{TEST_PASSWORD}\n")
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(app, ["reports", "review", str(run_dir), "--lake", str(settings.lake),
                                      "--comment", "figures checked against the ledger"])
    assert result.exit_code == 0, result.output
    record = review.load_run(run_dir)
    assert (record.reviewed_by, record.reviewer) == ("李 审核员", "rev-province")
    assert record.review_comment == "figures checked against the ledger"
    signed = f"审核: 李 审核员 ({record.reviewed_at[:16].replace('T', ' ')} UTC)"
    assert signed in Path(record.html_path).read_text(encoding="utf-8")
    cover = re.sub(r"\s+", "", unicodedata.normalize("NFKC", pypdf.PdfReader(record.pdf_path).pages[0].extract_text()))
    assert "审核:李审核员" in cover and "待审核" not in cover
    # the signed outputs are what run.json now vouches for; the figures are the ones reviewed
    assert review._changed_outputs(run_dir, record) == []
    assert record.checksums["figures.csv"] == record.figures_sha256
    with Security.open(settings) as security:
        entry = security.audit.entries(action="review_reports", limit=1)[0]
        assert (entry.actor, entry.outcome, entry.org_id) == ("rev-province", "ok", "C4302")
        assert record.figures_sha256 in entry.detail
    again = CliRunner().invoke(app, ["reports", "review", str(run_dir), "--lake", str(settings.lake)])
    assert again.exit_code == 1 and "already reviewed by 李 审核员" in again.output
    missing = CliRunner().invoke(app, ["reports", "review", str(run_dir.parent), "--lake", str(settings.lake)])
    assert missing.exit_code == 1 and "run.json missing" in missing.output
