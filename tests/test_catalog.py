"""The Intake 2 catalog (catalog/catalog.yaml) loads, lists every lake table and view, and reads
each of them offline from a small demo lake through carbonlib.catalog_readers."""

from __future__ import annotations

import intake
import pandas as pd
import pytest

from carbonlib.catalog_readers import (
    CATALOG_PATH,
    LAKE_DEFAULT,
    VIEW_SCHEMA,
    LakeTableReader,
    build_catalog,
    catalog_yaml,
)
from carbonlib.lake import Lake, NotALakeError
from carbonlib.lake.schema import TABLES
from carbonlib.settings import Settings, load_settings
from carbonlib.accounting.views import VIEWS

#: Entries allowed to read as an empty DataFrame from the small demo lake.
MAY_BE_EMPTY = {"report_run", "alert_event", "activity_evidence", "cap_request", "cap_decision"}  # logs of report batches and alerts, empty until one ran; evidence files, which the demo does not attach

ALL_NAMES = sorted(set(TABLES) | set(VIEWS))


def expected_columns(name: str) -> list[str]:
    if name in TABLES:
        return TABLES[name].column_names
    return [c.name for c in VIEW_SCHEMA[name][1]]


@pytest.fixture(scope="module")
def catalog_lake(tmp_path_factory) -> Settings:
    """This module's own small demo lake (the snapshot test writes to it)."""
    from carbonlib.demo import build_demo

    settings = load_settings(lake=tmp_path_factory.mktemp("catalog_demo") / "lake")
    build_demo(settings, "small", progress=False)
    return settings


@pytest.fixture
def cat(catalog_lake, monkeypatch):
    """The committed catalog, with CARBON_LAKE pointing at the demo lake."""
    for name in ("CARBON_CATALOG", "CARBON_DATA_PATH", "CARBON_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CARBON_LAKE", str(catalog_lake.lake))
    return intake.from_yaml_file(str(CATALOG_PATH))


# ------------------------------------------------------------------ catalog file (no lake needed)
def test_committed_yaml_is_generated():
    assert CATALOG_PATH.is_file(), "generate it: python -m carbonlib.catalog_readers catalog/catalog.yaml"
    assert CATALOG_PATH.read_text(encoding="utf-8") == catalog_yaml(), (
        "catalog/catalog.yaml is stale; regenerate: python -m carbonlib.catalog_readers catalog/catalog.yaml"
    )


def test_catalog_lists_every_table_and_view():
    loaded = intake.from_yaml_file(str(CATALOG_PATH))
    assert sorted(loaded) == ALL_NAMES
    assert sorted(build_catalog()) == ALL_NAMES
    assert set(VIEW_SCHEMA) == set(VIEWS), "declare the output columns of every view in VIEW_SCHEMA"
    for name in ALL_NAMES:
        entry = loaded.get_entity(name)
        assert entry.reader == "carbonlib.catalog_readers:LakeTableReader"
        assert entry.output_instance == "pandas:DataFrame"
        meta = entry.metadata
        assert meta["description"]
        assert meta["standard_clause"] is not None
        assert [c["name"] for c in meta["columns"]] == expected_columns(name)
        assert all({"name", "type", "unit", "doc"} <= set(c) for c in meta["columns"])
        if name in TABLES:
            table = TABLES[name]
            assert meta["kind"] == "table"
            assert meta["description"] == table.doc
            assert meta["standard_clause"] == table.clause
            assert [c["unit"] for c in meta["columns"]] == [c.unit for c in table.columns]
        else:
            assert meta["kind"] == "view"
            assert meta["description"] == VIEWS[name][1]


def test_user_parameters():
    loaded = intake.from_yaml_file(str(CATALOG_PATH))
    ups = loaded.user_parameters
    assert ups["lake"].default == LAKE_DEFAULT == "env(CARBON_LAKE)"
    assert ups["snapshot"].default is None
    assert ups["snapshot"].coerce("7") == 7  # typed parameter survives the YAML round trip


# ------------------------------------------------------------------ reading (demo lake)
@pytest.mark.slow
@pytest.mark.parametrize("name", ALL_NAMES)
def test_every_entry_reads(cat, name):
    reader = cat[name]
    assert isinstance(reader, LakeTableReader)
    df = reader.read()
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == expected_columns(name)
    if name not in MAY_BE_EMPTY:
        assert len(df) > 0, f"{name} is empty in the small demo lake"


@pytest.mark.slow
def test_lake_parameter_overrides_environment(catalog_lake, monkeypatch):
    monkeypatch.setenv("CARBON_LAKE", str(catalog_lake.lake.parent / "no-such-lake"))
    loaded = intake.from_yaml_file(str(CATALOG_PATH))
    with pytest.raises(NotALakeError):
        loaded["gwp"].read()
    df = loaded(lake=str(catalog_lake.lake))["gwp"].read()
    assert len(df) > 0
    assert len(loaded["gwp"].read(lake=str(catalog_lake.lake))) == len(df)


@pytest.mark.slow
def test_read_options(cat):
    nee = cat["telemetry_monthly"].read(where="metric = 'NEE'")
    assert len(nee) > 0 and set(nee["metric"]) == {"NEE"}
    org = cat["org"].read(columns=["org_id", "level"], where="level = 'province'")
    assert list(org.columns) == ["org_id", "level"] and len(org) == 1
    assert len(cat["org"].discover()) <= 10


@pytest.mark.slow
def test_reader_without_catalog(catalog_lake):
    df = LakeTableReader(table="gwp", lake=str(catalog_lake.lake)).read()
    assert list(df.columns) == TABLES["gwp"].column_names and len(df) > 0


@pytest.mark.slow
def test_snapshot_pins_reads(cat, catalog_lake):
    with Lake.open(catalog_lake, read_only=True) as lake:
        before = lake.snapshot_id()
    with Lake.open(catalog_lake) as lake:
        lake.set_meta("catalog_test_marker", "1")
        after = lake.snapshot_id()
    assert after > before

    latest = cat["lake_meta"].read()
    assert "catalog_test_marker" in set(latest["key"])
    for pinned in (
        cat(snapshot=before)["lake_meta"].read(),
        cat(snapshot=str(before))["lake_meta"].read(),  # coerced by the int user parameter
        cat["lake_meta"].read(snapshot=before),
    ):
        assert "catalog_test_marker" not in set(pinned["key"])
        assert len(pinned) == len(latest) - 1
    # views honour the snapshot parameter too
    assert cat(snapshot=before)["org_tree"].read().equals(cat["org_tree"].read())


@pytest.mark.slow
def test_the_catalog_reads_its_lake_from_any_working_folder(catalog_lake, tmp_path, monkeypatch):
    """No CARBON_LAKE: the lake beside the catalog's folder (repo/lake, as `make demo` builds it), from
    any working folder; before, every read looked for ./lake (new-user finding of issue 9)."""
    import shutil

    repo = tmp_path / "repo"
    (repo / "catalog").mkdir(parents=True)
    shutil.copy(CATALOG_PATH, repo / "catalog" / "catalog.yaml")
    (repo / "lake").symlink_to(catalog_lake.lake, target_is_directory=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.delenv("CARBON_LAKE", raising=False)
    monkeypatch.chdir(elsewhere)
    monkeypatch.setattr("carbonlib.catalog_readers.CATALOG_PATH", repo / "catalog" / "catalog.yaml")
    loaded = intake.from_yaml_file(str(repo / "catalog" / "catalog.yaml"))
    assert list(loaded)[:3] == ["account", "activity", "activity_effective"]  # names, not hash keys
    assert len(loaded["gwp"].read()) == len(Lake.open(catalog_lake, read_only=True).read("gwp"))
    nested = repo / "notebooks" / "explore"  # and from a folder below the repository: the nearest lake/
    nested.mkdir(parents=True)
    monkeypatch.chdir(nested)
    monkeypatch.setattr("carbonlib.catalog_readers.CATALOG_PATH", tmp_path / "none" / "catalog.yaml")
    assert len(loaded["gwp"].read()) > 0
    monkeypatch.chdir(elsewhere)
    with pytest.raises(NotALakeError, match="CARBON_LAKE"):
        loaded["gwp"].read()
