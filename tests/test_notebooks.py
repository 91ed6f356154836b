"""Every notebook under notebooks/ executes top to bottom with papermill on a real kernel (small demo lake).

Notebooks are discovered with a glob, so notebooks added later to notebooks/explore or
notebooks/course are executed too.  Each gets the parameters of :data:`PARAMETERS` (keyed by
path relative to notebooks/), by default just ``lake``.  Notebooks in git must be output-free.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT / "notebooks").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
#: Extra parameters per notebook (path relative to notebooks/); every notebook also gets ``lake``.
PARAMETERS: dict[str, dict] = {
    "reports/monthly_account.ipynb": {"lang": "en"},
    "reports/disclosure.ipynb": {"org_id": "C4302"},
}


def _rel(path: Path) -> str:
    return path.relative_to(ROOT / "notebooks").as_posix()


def test_the_report_notebooks_are_discovered():
    assert {"reports/monthly_account.ipynb", "reports/annual_account.ipynb", "reports/disclosure.ipynb",
            "reports/supervision.ipynb"} <= {
        _rel(p) for p in NOTEBOOKS}


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=_rel)
def test_notebook_is_output_free_and_has_parameters(notebook):
    nb = nbformat.read(notebook, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), f"strip the outputs of {notebook}"
    if _rel(notebook).startswith("reports/"):
        tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1
        for name in ("org_id", "period", "lake", "snapshot", "lang"):
            assert f"{name} = " in tagged[0].source
        assert nb.cells[0].cell_type == "markdown" and "## Overview" in nb.cells[0].source
        assert "## Prerequisites" in nb.cells[0].source and "## Summary" in nb.cells[-1].source


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=_rel)
def test_notebook_executes_on_the_demo_lake(notebook, small_demo_lake, tmp_path):
    import papermill as pm

    parameters = {"lake": str(small_demo_lake.lake), **PARAMETERS.get(_rel(notebook), {})}
    out = tmp_path / notebook.name
    pm.execute_notebook(notebook, out, parameters=parameters, kernel_name="python3", progress_bar=False,
                        cwd=str(notebook.parent))
    executed = nbformat.read(out, as_version=4)
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    assert any(c.outputs for c in executed.cells if c.cell_type == "code")


@pytest.mark.slow
def test_the_tour_runs_from_its_own_folder_without_a_lake_parameter(small_demo_lake, tmp_path, monkeypatch):
    """As JupyterLab runs it: working folder notebooks/explore/, no CARBON_LAKE, no ``lake`` parameter;
    the tour finds the repository's lake/ two folders up (it looked for ./lake before: issue 9)."""
    import shutil

    import papermill as pm

    folder = tmp_path / "repo" / "notebooks" / "explore"
    folder.mkdir(parents=True)
    shutil.copy(ROOT / "notebooks" / "explore" / "lake_tour.ipynb", folder)
    (tmp_path / "repo" / "lake").symlink_to(small_demo_lake.lake, target_is_directory=True)
    monkeypatch.delenv("CARBON_LAKE", raising=False)
    pm.execute_notebook(folder / "lake_tour.ipynb", tmp_path / "out.ipynb", kernel_name="python3",
                        progress_bar=False, cwd=str(folder))
    executed = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert not [o for c in executed.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]


@pytest.mark.slow
def test_the_registry_verifier_fails_on_a_tampered_copy(small_demo_lake, tmp_path):
    """Issue 13: the verifier notebook proves a retirement and the checkpoints' consistency (run above on the
    demo's published files) and fails, naming the file, on a copy where one retirement was edited."""
    import json
    import shutil

    import papermill as pm

    from carbonlib.registry.publish import public_folder

    copy = tmp_path / "published"
    shutil.copytree(public_folder(small_demo_lake), copy)
    victim = sorted((copy / "retirements").glob("*.json"))[0]
    item = json.loads(victim.read_text())
    facts = json.loads(item["leaf"])
    item["leaf"] = item["leaf"].replace(f'"quantity":{facts["quantity"]}', f'"quantity":{facts["quantity"] * 10}')
    victim.write_text(json.dumps(item))
    notebook = ROOT / "notebooks" / "explore" / "registry_verifier.ipynb"
    with pytest.raises(pm.PapermillExecutionError, match=victim.name):
        pm.execute_notebook(notebook, tmp_path / "out.ipynb", parameters={"published": str(copy)},
                            kernel_name="python3", progress_bar=False, cwd=str(notebook.parent))
