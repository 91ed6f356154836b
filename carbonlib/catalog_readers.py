"""Intake 2 catalog of the lake: a data type, a reader and the generated ``catalog/catalog.yaml``.

Faces layer: analysts load lake tables and derived views with Intake 2 and never write SQL::

    import intake
    cat = intake.from_yaml_file("catalog/catalog.yaml")   # lake: see default_settings()
    df = cat["telemetry_monthly"].read()                   # or cat(lake="/data/lake", snapshot=12)["org"].read()

Intake 2 pieces used here:

* :class:`LakeRelation` is an ``intake.readers.datatypes.BaseData``: *what* the data is (a
  table or view of a carbonlib lake, at an optional snapshot).  In the catalog it becomes a
  ``DataDescription`` in the ``data:`` section.
* :class:`LakeTableReader` is an ``intake.readers.BaseReader`` with
  ``output_instance = "pandas:DataFrame"``: *how* to load it (through :class:`carbonlib.lake.Lake`,
  so DuckDB extensions load offline and snapshots pin reads).  In the catalog it becomes a
  ``ReaderDescription`` in ``entries:`` that refers to its data as ``{data(<token>)}``.
* Catalog-level user parameters ``lake`` (default ``env(CARBON_LAKE)``, i.e. the environment
  variable; when it is unset :func:`default_settings` finds the lake) and ``snapshot``
  (default none = latest).  Override them with ``cat(lake=..., snapshot=...)`` or per read.

The YAML is generated, never edited by hand: ``python -m carbonlib.catalog_readers`` prints it,
``python -m carbonlib.catalog_readers catalog/catalog.yaml`` writes it; a test keeps the
committed file equal to :func:`build_catalog`'s output.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import yaml
from intake.readers import BaseReader
from intake.readers.datatypes import BaseData
from intake.readers.entry import Catalog
from intake.readers.user_parameters import BaseUserParameter, SimpleUserParameter

from .lake.schema import SCHEMA_VERSION, TABLES, Column, Table
from .settings import Settings, load_settings

#: Default location of the committed catalog file (repository root / catalog / catalog.yaml).
CATALOG_PATH = Path(__file__).resolve().parent.parent / "catalog" / "catalog.yaml"

#: Env-var template understood by intake 2's user parameters (``intake.readers.user_parameters.env``).
LAKE_DEFAULT = "env(CARBON_LAKE)"


# --------------------------------------------------------------------------- intake classes
class LakeRelation(BaseData):
    """A table or derived view of a carbonlib DuckLake lake, optionally pinned to a snapshot.

    ``location`` is the lake folder (``None``/empty: :func:`default_settings`); exactly one of ``table`` (a name in ``carbonlib.lake.schema.TABLES``) and
    ``view`` (a name in ``carbonlib.accounting.views.VIEWS``) is given; ``snapshot_id`` pins the read.

    (The fields are not called ``lake``/``snapshot`` on purpose: intake 2 treats a kwarg named
    like a user parameter as a *value for* that parameter, so ``lake: "{lake}"`` would not work.)
    """

    structure = {"table"}

    def __init__(
        self,
        table: str | None = None,
        view: str | None = None,
        location: str | None = None,
        snapshot_id: int | None = None,
        metadata: dict | None = None,
    ):
        if (table is None) == (view is None):
            raise ValueError("give exactly one of table= or view=")
        self.table = table
        self.view = view
        self.location = location
        self.snapshot_id = snapshot_id
        super().__init__(metadata=metadata)


class LakeTableReader(BaseReader):
    """Read a lake table or derived view into a pandas DataFrame through :class:`carbonlib.lake.Lake`.

    Read-time options: ``where`` (SQL predicate on the relation's columns), ``columns`` (tables
    only), ``snapshot`` and ``lake`` (override the data's values).
    """

    imports = {"carbonlib", "duckdb", "pandas"}
    implements = {LakeRelation}
    output_instance = "pandas:DataFrame"
    func = "carbonlib.lake:Lake.read"

    def _read(
        self,
        data: LakeRelation | None = None,
        table: str | None = None,
        view: str | None = None,
        lake: str | None = None,
        snapshot: int | str | None = None,
        where: str | None = None,
        columns: list[str] | None = None,
        **kw,
    ) -> pd.DataFrame:
        if kw:
            raise TypeError(f"unexpected read option(s) {sorted(kw)}; known: where, columns, snapshot, lake")
        if data is not None:
            table = table or data.table
            view = view or data.view
            lake = lake or data.location
            snapshot = data.snapshot_id if snapshot is None else snapshot
        return read_relation(table=table, view=view, lake=lake, snapshot=snapshot, where=where, columns=columns)

    def discover(self, **kwargs) -> pd.DataFrame:
        """The first rows only."""
        return self.read(**kwargs).head(10)


def read_relation(
    table: str | None = None,
    view: str | None = None,
    lake: str | None = None,
    snapshot: int | str | None = None,
    where: str | None = None,
    columns: list[str] | None = None,
) -> pd.DataFrame:
    """Open the lake read-only and return a table (``lake.read``) or a view (``VIEWS`` SQL) as a DataFrame."""
    from .lake import Lake
    from .accounting.views import VIEWS

    if (table is None) == (view is None):
        raise ValueError("give exactly one of table= or view=")
    snapshot = None if snapshot in (None, "") else int(snapshot)
    settings = load_settings(lake=lake) if lake else default_settings()
    with Lake.open(settings, read_only=True) as handle:
        if table is not None:
            return handle.read(table, columns=columns, where=where, snapshot=snapshot)
        if view not in VIEWS:
            raise KeyError(f"unknown view {view!r}; known views: {sorted(VIEWS)}")
        if columns:
            raise ValueError("columns= applies to tables only; select columns from the DataFrame")
        sql = VIEWS[view][0](handle, snapshot=snapshot)
        if where:
            sql = f"SELECT * FROM ({sql}) AS v WHERE {where}"
        return handle.query(sql)


def default_settings() -> Settings:
    """Settings of a read that names no lake, from any working folder.

    ``CARBON_LAKE`` or ``carbon.toml`` when set; else the nearest ``lake/`` from the working
    folder up (:func:`carbonlib.settings.nearest_lake`); else the ``lake/`` beside the catalog's
    folder (the repository's demo lake, ``make demo``).
    """
    settings = load_settings(find_lake=True)
    beside = CATALOG_PATH.parent.parent / "lake"
    if (settings.catalog is None and not (settings.lake / "catalog.sqlite").is_file()
            and (beside / "catalog.sqlite").is_file()):
        return settings.with_overrides(lake=beside)
    return settings


# --------------------------------------------------------------------------- view metadata
def _col(name: str, type_: str, doc: str, unit: str | None = None) -> Column:
    return Column(name, type_, doc, unit=unit)


def _rollup_columns(freq: str) -> tuple[Column, ...]:
    return (
        TABLES["telemetry"].column("device_id"),
        TABLES["telemetry"].column("metric"),
        _col("period", "TIMESTAMP", f"start of the {freq} (date_trunc of ts)", unit="UTC"),
        _col("n", "BIGINT", "number of values", unit="1"),
        _col("total", "DOUBLE", "sum of values (meaningful for meter metrics)", unit="metric unit"),
        _col("mean", "DOUBLE", "mean value", unit="metric unit"),
        _col("minimum", "DOUBLE", "smallest value", unit="metric unit"),
        _col("maximum", "DOUBLE", "largest value", unit="metric unit"),
        _col("good_share", "DOUBLE", "share of values with qc = 0 (good)", unit="1"),
    )


_ORG_TREE_COLUMNS = tuple(
    TABLES["org"].column(c)
    for c in ("org_id", "parent_id", "level", "kind", "name_zh", "name_en", "region_code", "industry", "opened_on")
) + (
    Column("closed_on", "DATE", "day the org closed (NULL while open)", nullable=True),
    _col("depth", "INTEGER", "distance from the province (province = 0)", unit="1"),
    _col("path", "VARCHAR", "org ids from the province down to the node, joined by '/'"),
)

#: Output columns and source table of each view in :data:`carbonlib.accounting.views.VIEWS`.  A test
#: reads every view and checks its columns against this, so the two cannot drift apart.
VIEW_SCHEMA: dict[str, tuple[str, tuple[Column, ...]]] = {
    "telemetry_monthly": ("telemetry", _rollup_columns("month")),
    "org_tree": ("org", _ORG_TREE_COLUMNS),
    "activity_effective": ("activity", TABLES["activity"].columns),
}


# --------------------------------------------------------------------------- catalog
def _columns_meta(columns: tuple[Column, ...]) -> list[dict]:
    out = []
    for c in columns:
        item = {"name": c.name, "type": c.type, "unit": c.unit, "doc": c.doc, "nullable": c.nullable}
        if c.allowed:
            item["allowed"] = list(c.allowed)
        if c.references:
            item["references"] = c.references
        out.append(item)
    return out


def _table_meta(t: Table) -> dict:
    return {
        "description": t.doc,
        "kind": "table",
        "standard_clause": t.clause,
        "key": list(t.key),
        "partition_by": list(t.partition_by),
        "append_only": t.append_only,
        "columns": _columns_meta(t.columns),
    }


def _view_meta(name: str, description: str) -> dict:
    meta = {"description": description, "kind": "view"}
    if name in VIEW_SCHEMA:
        source, columns = VIEW_SCHEMA[name]
        meta.update(source_table=source, standard_clause=TABLES[source].clause, columns=_columns_meta(columns))
    return meta


def _reader(*, table: str | None = None, view: str | None = None, metadata: dict) -> LakeTableReader:
    data = LakeRelation(table=table, view=view, location="{lake}", snapshot_id="{snapshot}")
    return LakeTableReader(data, metadata=metadata)


def build_catalog() -> Catalog:
    """The Intake 2 catalog: one entry per lake table and per derived view, named like them."""
    from .accounting.views import VIEWS

    cat = Catalog(
        metadata={
            "description": "Carbon accounting lake (DuckLake): every table of the data model and the derived views. "
            "Generated by `python -m carbonlib.catalog_readers`; do not edit by hand.",
            "schema_version": SCHEMA_VERSION,
            "generator": "carbonlib.catalog_readers:build_catalog",
        },
        user_parameters={
            "lake": BaseUserParameter(
                default=LAKE_DEFAULT,
                description="lake folder; default: environment variable CARBON_LAKE, else carbon.toml, else the "
                            "nearest lake/ from the working folder up, else the lake/ beside this catalog's folder",
            ),
            "snapshot": SimpleUserParameter(
                dtype=int,
                default=None,
                description="DuckLake snapshot id to pin every read to; default: latest",
            ),
        },
    )
    readers = {name: _reader(table=name, metadata=_table_meta(t)) for name, t in TABLES.items()}
    for name, (_, description) in VIEWS.items():
        if name in readers:
            raise ValueError(f"view {name!r} has the name of a lake table")
        readers[name] = _reader(view=name, metadata=_view_meta(name, description))
    for name, reader in readers.items():
        # entries and data are keyed by content token; the dataset names are aliases, which is
        # what ``list(cat)``, ``cat.search`` and the repr show.  (``cat[name] = reader`` would make
        # the name the token, which intake 2.0.9 then cannot hash.)
        cat.give_name(cat.add_entry(reader), name)
    return cat


def catalog_dict(cat: Catalog | None = None) -> dict:
    """``Catalog.to_dict()`` plus each user parameter's class.

    intake 2.0.9's ``Catalog.to_dict`` drops the ``cls`` key of user parameters, so a saved
    ``SimpleUserParameter`` would come back as an untyped ``BaseUserParameter``; adding ``cls``
    (the key ``BaseUserParameter.from_dict`` reads) keeps the type across a YAML round trip.
    """
    cat = build_catalog() if cat is None else cat
    out = cat.to_dict()
    for name, up in cat.user_parameters.items():
        out["user_parameters"][name] = up.to_dict()
    return out


def catalog_yaml() -> str:
    """The YAML text of :func:`build_catalog`, serialised like ``Catalog.to_yaml_file`` (see :func:`catalog_dict`)."""
    return yaml.safe_dump(catalog_dict())


def write_catalog(path: str | Path = CATALOG_PATH) -> Path:
    """Write the generated catalog to ``path`` (default ``catalog/catalog.yaml``) and return it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(catalog_yaml(), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    """``python -m carbonlib.catalog_readers [PATH]``: print the catalog YAML, or write it to PATH."""
    argv = sys.argv[1:] if argv is None else argv
    if argv:
        print(write_catalog(argv[0]))
    else:
        sys.stdout.write(catalog_yaml())
    return 0


if __name__ == "__main__":
    # Run the imported module's main, so the classes in the YAML are named
    # ``carbonlib.catalog_readers:...`` and not ``__main__:...``.
    from carbonlib.catalog_readers import main as _main

    raise SystemExit(_main())
