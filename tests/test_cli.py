"""The ``carbon`` command line, run as real subprocesses (console script and python -m)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from carbonlib.lake.schema import SCHEMA_VERSION, TABLES

CARBON = [sys.executable, "-m", "carbonlib"]


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*CARBON, *args], capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=300)


@pytest.mark.parametrize("command", [[], ["demo"], ["demo", "build"], ["lake"], ["lake", "info"], ["lake", "init"],
                                     ["lake", "snapshots"], ["lake", "checksums"], ["lake", "migrate"], ["schema"]])
def test_help_everywhere(command):
    result = run(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout


def test_lake_info_lists_every_table_with_rows(small_demo_lake):
    result = run("lake", "info", "--lake", str(small_demo_lake.lake), "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    rows = {t["table"]: t["rows"] for t in info["tables"]}
    assert set(rows) == set(TABLES)
    filled_by_jobs = {"report_run", "alert_event", "activity_evidence", "cap_request", "cap_decision",
                      "org_change"}  # logs of report batches and alerts, evidence files, master-data changes: not demo data
    assert all(n > 0 for t, n in rows.items() if t not in filled_by_jobs), {t: n for t, n in rows.items() if n == 0}
    assert info["snapshot_id"] > 0 and info["schema_version"] == SCHEMA_VERSION

    text = run("lake", "info", "--lake", str(small_demo_lake.lake))
    for table in TABLES:
        assert table in text.stdout
    # tables with rows but no files (issue 9: "0 files / 0 bytes" was shown without a word why)
    inlined = [t["table"] for t in info["tables"] if t["rows"] > 0 and t["files"] == 0]
    assert inlined and "DuckLake data inlining" in text.stdout


def test_make_waits_for_another_package_manager():
    """`make test` on a machine where apt is busy waits for the dpkg lock instead of failing at once (issue 9)."""
    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    calls = [line for line in makefile.splitlines() if "apt-get" in line and not line.lstrip().startswith("#")
             and "sudo apt-get" not in line]
    assert calls and all("DPkg::Lock::Timeout=" in line for line in calls), calls


def test_env_var_selects_the_lake(small_demo_lake):
    result = run("lake", "info", "--json", env={"CARBON_LAKE": str(small_demo_lake.lake)})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["catalog"].endswith(f"{small_demo_lake.lake.name}/catalog.sqlite")


def test_not_a_lake_exits_1_with_the_fix(tmp_path):
    result = run("lake", "info", "--lake", str(tmp_path / "nowhere"))
    assert result.returncode == 1
    assert "is not a Carbon lake" in result.stderr and "carbon demo build" in result.stderr


def test_bad_usage_exits_2():
    assert run("demo", "build", "--scale", "huge").returncode == 2
    assert run("schema", "no_such_table").returncode == 2
    assert run("lake", "info", "--snapshot", "abc").returncode == 2


def test_init_then_refuse_to_overwrite_then_checksums(tmp_path):
    lake = tmp_path / "lake"
    assert run("lake", "init", "--lake", str(lake)).returncode == 0
    again = run("lake", "init", "--lake", str(lake))
    assert again.returncode == 1 and "already exists" in again.stderr
    sums = json.loads(run("lake", "checksums", "--lake", str(lake)).stdout)
    assert sums["org"] == "0:0000000000000000"
    assert sums["metric"].startswith("13:")


def test_demo_build_refuses_to_delete_a_foreign_folder(tmp_path):
    folder = tmp_path / "important"
    folder.mkdir()
    (folder / "thesis.txt").write_text("do not delete")
    result = run("demo", "build", "--lake", str(folder), "--force", "--no-progress")
    assert result.returncode == 1
    assert (folder / "thesis.txt").exists()


def test_schema_markdown_is_the_committed_data_model_doc():
    doc = Path(__file__).resolve().parents[1] / "docs" / "data-model.md"
    result = run("schema", "--markdown")
    assert result.returncode == 0
    assert result.stdout == doc.read_text(encoding="utf-8"), "regenerate: carbon schema --markdown > docs/data-model.md"
