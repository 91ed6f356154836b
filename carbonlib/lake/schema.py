"""The lake's data model, defined once.

Every table of ARCHITECTURE.md's data model is declared here as a :class:`Table` of
:class:`Column` objects.  The same definition produces the DDL (``CREATE TABLE``), the
validation rules used by :mod:`carbonlib.lake.writer`, the ``carbon schema`` text and
``docs/data-model.md``.  Units are stated per column; timestamps are UTC.

Telemetry metrics are declared in :data:`METRICS` with their canonical unit and the
physically plausible range; a value outside the range is quarantined, not stored.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Version of the data model.  Bump it together with a migration in ``migrations.py``.
SCHEMA_VERSION = 1

ORG_LEVELS = ("province", "city", "county", "enterprise", "site")
ORG_KINDS = ("government", "enterprise", "forest", "wetland", "urban_green")
INDUSTRIES = ("power", "cement", "paper", "logistics", "park")
DEVICE_KINDS = ("flux_tower", "electricity_meter", "heat_meter", "gas_meter", "fuel_meter", "production_meter")
DEVICE_EVENTS = ("installed", "calibrated", "repaired", "replaced", "removed", "retired")
QC_FLAGS = (0, 1, 2)  # 0 good, 1 suspect (passed range checks but flagged by the source), 2 bad
ACTIVITY_CATEGORIES = (
    "stationary_combustion",
    "mobile_combustion",
    "process",
    "fugitive",
    "purchased_electricity",
    "purchased_heat",
    "exported_electricity",
    "exported_heat",
    "waste",
    "biomass_combustion",
)
ACTIVITY_STATUSES = ("draft", "submitted", "approved", "rejected")
#: Units accepted in the activity ledger; each is a unit name known to carbonlib.units
#: (a test keeps the two in step).
ACTIVITY_UNITS = ("t", "kg", "10^4 t", "m3", "L", "Nm3", "10^4 Nm3", "GJ", "TJ", "MWh", "kWh", "tce")
PROJECT_STATUSES = ("initiated", "validated", "registered", "monitoring", "verified", "closed")
CREDIT_EVENTS = ("issue", "transfer", "retire", "cancel")
GWP_ASSESSMENTS = ("SAR", "AR4", "AR5", "AR6")


@dataclass(frozen=True)
class Metric:
    """A telemetry metric: canonical unit and physically plausible range (inclusive)."""

    name: str
    unit: str
    description: str
    min_valid: float
    max_valid: float


#: Telemetry metrics.  Meter metrics are amounts per reporting interval (not rates).
METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("NEE", "umol m-2 s-1", "net ecosystem exchange of CO2 (negative = uptake)", -80.0, 60.0),
        Metric("Rg", "W m-2", "global (shortwave incoming) radiation", -10.0, 1400.0),
        Metric("Tair", "degC", "air temperature", -45.0, 50.0),
        Metric("VPD", "hPa", "vapour pressure deficit", 0.0, 80.0),
        Metric("Ustar", "m s-1", "friction velocity u*", 0.0, 5.0),
        Metric("electricity_import", "kWh", "grid electricity purchased in the interval", 0.0, 5e6),
        Metric("electricity_export", "kWh", "electricity exported to the grid in the interval", 0.0, 5e6),
        Metric("heat_supply", "GJ", "heat (steam/hot water) purchased or delivered in the interval", 0.0, 5e4),
        Metric("natural_gas", "m3", "natural gas consumed in the interval (normal m3)", 0.0, 5e6),
        Metric("coal", "t", "coal fed to boilers in the interval", 0.0, 5e3),
        Metric("diesel", "L", "diesel dispensed in the interval", 0.0, 1e5),
        Metric("clinker", "t", "cement clinker produced in the interval", 0.0, 2e3),
        Metric("paper", "t", "paper produced in the interval", 0.0, 500.0),
    )
}


@dataclass(frozen=True)
class Column:
    """One column: SQL type, unit, meaning and the checks every written row must pass."""

    name: str
    type: str
    doc: str
    unit: str | None = None
    nullable: bool = False
    allowed: tuple | None = None
    min: float | None = None
    max: float | None = None
    references: str | None = None  # "table.column"


@dataclass(frozen=True)
class Table:
    """A lake table: columns, natural key, partitioning and its place in the standard."""

    name: str
    doc: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    partition_by: tuple[str, ...] = ()
    clause: str = ""
    append_only: bool = True
    volatile: tuple[str, ...] = ()  # run stamps (e.g. computed_at), left out of content checksums

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"table {self.name!r} has no column {name!r}; columns: {self.column_names}")

    def ddl(self, catalog: str = "lake") -> str:
        cols = ",\n  ".join(f"{c.name} {c.type}{'' if c.nullable else ' NOT NULL'}" for c in self.columns)
        return f"CREATE TABLE IF NOT EXISTS {catalog}.{self.name} (\n  {cols}\n)"


def _c(name: str, type_: str, doc: str, **kw) -> Column:
    return Column(name, type_, doc, **kw)


def _org_ref(doc: str = "organisation node the row belongs to") -> Column:
    return _c("org_id", "VARCHAR", doc, references="org.org_id")


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "lake_meta",
            "Key/value facts about the lake itself (schema version, creator, demo seed).",
            (_c("key", "VARCHAR", "fact name"), _c("value", "VARCHAR", "fact value")),
            key=("key",),
            append_only=False,
        ),
        Table(
            "org",
            "Organisation tree province > city > county > enterprise/site; every fact row carries an org_id.",
            (
                _c("org_id", "VARCHAR", "stable identifier, e.g. 'P43', 'C4301', 'E430102-01'"),
                _c("parent_id", "VARCHAR", "parent node; NULL only for the province", nullable=True, references="org.org_id"),
                _c("level", "VARCHAR", "tree level", allowed=ORG_LEVELS),
                _c("kind", "VARCHAR", "what the node is", allowed=ORG_KINDS),
                _c("name_zh", "VARCHAR", "Chinese name"),
                _c("name_en", "VARCHAR", "English name"),
                _c("region_code", "VARCHAR", "administrative division code of the node's area (GB/T 2260 style, 6 digits)"),
                _c("industry", "VARCHAR", "industry of an enterprise; NULL for other nodes", nullable=True, allowed=INDUSTRIES),
                _c("area_ha", "DOUBLE", "land area of a site", unit="ha", nullable=True, min=0.0),
                _c("latitude", "DOUBLE", "WGS84 latitude", unit="degree", nullable=True, min=-90.0, max=90.0),
                _c("longitude", "DOUBLE", "WGS84 longitude", unit="degree", nullable=True, min=-180.0, max=180.0),
            ),
            key=("org_id",),
            clause="4.2.1",
        ),
        Table(
            "device",
            "IoT devices (flux towers, meters) installed at an organisation.",
            (
                _c("device_id", "VARCHAR", "stable identifier"),
                _org_ref("organisation where the device is installed"),
                _c("kind", "VARCHAR", "device type", allowed=DEVICE_KINDS),
                _c("model", "VARCHAR", "manufacturer model"),
                _c("serial_no", "VARCHAR", "manufacturer serial number"),
                _c("interval_s", "INTEGER", "reporting interval", unit="s", allowed=(900, 1800, 3600, 86400)),
                _c("installed_on", "DATE", "installation date"),
            ),
            key=("device_id",),
            clause="8.2",
        ),
        Table(
            "device_event",
            "Device lifecycle events (clause 8.2).",
            (
                _c("event_id", "VARCHAR", "event identifier"),
                _c("device_id", "VARCHAR", "device", references="device.device_id"),
                _c("event_type", "VARCHAR", "lifecycle event", allowed=DEVICE_EVENTS),
                _c("event_time", "TIMESTAMP", "when it happened", unit="UTC"),
                _c("actor", "VARCHAR", "who did it"),
                _c("note", "VARCHAR", "free text", nullable=True),
            ),
            key=("event_id",),
            clause="8.2",
        ),
        Table(
            "metric",
            "Telemetry metric dictionary: canonical unit and plausible range.",
            (
                _c("metric", "VARCHAR", "metric name"),
                _c("unit", "VARCHAR", "canonical unit of stored values"),
                _c("description", "VARCHAR", "meaning"),
                _c("min_valid", "DOUBLE", "lowest plausible value", unit="metric unit"),
                _c("max_valid", "DOUBLE", "highest plausible value", unit="metric unit"),
            ),
            key=("metric",),
            append_only=False,
        ),
        Table(
            "telemetry",
            "IoT measurements in long format, one row per device, metric and interval; append-only, partitioned by month.",
            (
                _c("device_id", "VARCHAR", "device", references="device.device_id"),
                _c("metric", "VARCHAR", "metric name (see table metric)", allowed=tuple(METRICS)),
                _c("ts", "TIMESTAMP", "start of the reporting interval", unit="UTC"),
                _c("value", "DOUBLE", "measured value in the metric's canonical unit", unit="metric unit"),
                _c("qc", "UTINYINT", "quality flag: 0 good, 1 suspect, 2 bad", allowed=QC_FLAGS),
            ),
            key=("device_id", "metric", "ts"),
            partition_by=("year(ts)", "month(ts)"),
            clause="4.2.2 b, 7.3",
        ),
        Table(
            "telemetry_daily",
            "Telemetry rolled up per device, metric and UTC day (materialised by carbonlib.accounting.views."
            "refresh_telemetry_daily); dashboards read this, never raw telemetry.",
            (
                _c("device_id", "VARCHAR", "device", references="device.device_id"),
                _c("metric", "VARCHAR", "metric name", allowed=tuple(METRICS)),
                _c("day", "DATE", "UTC day"),
                _c("n", "BIGINT", "readings received", min=0),
                _c("total", "DOUBLE", "sum of values (meters: amount in the day)", unit="metric unit"),
                _c("mean", "DOUBLE", "mean value", unit="metric unit"),
                _c("minimum", "DOUBLE", "smallest value", unit="metric unit"),
                _c("maximum", "DOUBLE", "largest value", unit="metric unit"),
                _c("good_share", "DOUBLE", "share of readings with qc = 0", unit="1", min=0.0, max=1.0),
                _c("last_ts", "TIMESTAMP", "latest reading of the day", unit="UTC"),
            ),
            key=("device_id", "metric", "day"),
            partition_by=("year(day)",),
            append_only=False,
        ),
        Table(
            "telemetry_reject",
            "Quarantined telemetry: the raw record and why it was refused (nothing is lost).",
            (
                _c("received_at", "TIMESTAMP", "when the batch was written", unit="UTC"),
                _c("source", "VARCHAR", "batch source (file name, topic, job)"),
                _c("row_number", "BIGINT", "0-based row number within the batch"),
                _c("field", "VARCHAR", "offending field"),
                _c("reason", "VARCHAR", "why the row was refused"),
                _c("payload", "VARCHAR", "the raw record as JSON"),
            ),
            key=("received_at", "source", "row_number", "field"),
            clause="7.3",
        ),
        Table(
            "activity",
            "Emission activity ledger (台账): one entry per org, period, category and activity type. "
            "Corrections are new entries that reverse an earlier one; nothing is overwritten.",
            (
                _c("entry_id", "VARCHAR", "ledger entry identifier"),
                _org_ref("reporting organisation"),
                _c("period_start", "DATE", "first day of the activity period"),
                _c("period_end", "DATE", "last day of the activity period"),
                _c("category", "VARCHAR", "emission category (GB/T 32150)", allowed=ACTIVITY_CATEGORIES),
                _c("activity_type", "VARCHAR", "fuel, material or energy carrier, e.g. 'diesel', 'clinker', 'grid'"),
                _c("amount", "DOUBLE", "activity amount in `unit` (negative only in reversals)"),
                _c("unit", "VARCHAR", "unit of amount", allowed=ACTIVITY_UNITS),
                _c("evidence_ref", "VARCHAR", "reference to the voucher (invoice, meter reading, weighbridge slip)"),
                _c("author", "VARCHAR", "who entered it"),
                _c("status", "VARCHAR", "review status", allowed=ACTIVITY_STATUSES),
                _c("entered_at", "TIMESTAMP", "when it was entered", unit="UTC"),
                _c("reverses_entry_id", "VARCHAR", "entry this one reverses (corrections)", nullable=True),
            ),
            key=("entry_id",),
            clause="5.1, 6.2.1",
        ),
        Table(
            "emission_factor",
            "Emission factors and fuel parameters with their source; one row per kind, subject, series and year.",
            (
                _c("factor_id", "VARCHAR", "identifier"),
                _c("kind", "VARCHAR", "ncv, carbon_content, oxidation, grid, heat, process"),
                _c("subject", "VARCHAR", "fuel, process or grid region the factor applies to"),
                _c("series", "VARCHAR", "factor family or publication series"),
                _c("data_year", "INTEGER", "year the factor describes", nullable=True),
                _c("value", "DOUBLE", "factor value in `unit`"),
                _c("unit", "VARCHAR", "unit of value"),
                _c("source", "VARCHAR", "citation of the primary source"),
                _c("verified", "BOOLEAN", "traced to the primary source"),
            ),
            key=("factor_id",),
            clause="6.2.3",
        ),
        Table(
            "gwp",
            "Global warming potentials (100-year) per IPCC assessment report.",
            (
                _c("gas", "VARCHAR", "gas name, e.g. CH4"),
                _c("assessment", "VARCHAR", "IPCC assessment report", allowed=GWP_ASSESSMENTS),
                _c("value", "DOUBLE", "GWP100", unit="tCO2e/t"),
                _c("source", "VARCHAR", "citation"),
            ),
            key=("gas", "assessment"),
            clause="6.2.3",
        ),
        Table(
            "species_parameter",
            "Biomass expansion parameters per species group (IPCC 2006 Vol.4 Eq 2.8).",
            (
                _c("species_group", "VARCHAR", "species group identifier"),
                _c("name_zh", "VARCHAR", "Chinese name"),
                _c("latin_name", "VARCHAR", "botanical name", nullable=True),
                _c("volume_based", "BOOLEAN", "biomass can be derived from stem volume (false e.g. for bamboo)"),
                _c("wood_density", "DOUBLE", "basic wood density WD", unit="t d.m. m-3", nullable=True, min=0.1, max=1.2),
                _c("bef", "DOUBLE", "biomass expansion factor BEF (above-ground/stem)", unit="1", nullable=True, min=1.0, max=3.5),
                _c("root_shoot", "DOUBLE", "root-to-shoot ratio R", unit="1", nullable=True, min=0.0, max=1.0),
                _c("carbon_fraction", "DOUBLE", "carbon fraction of dry matter CF", unit="tC t-1 d.m.", min=0.3, max=0.6),
                _c("source", "VARCHAR", "citation"),
                _c("verified", "BOOLEAN", "traced to the primary source"),
            ),
            key=("species_group",),
            clause="6.4.3",
        ),
        Table(
            "forest_stand",
            "Forest, wetland and urban-green stands (inventory units) of a site.",
            (
                _c("stand_id", "VARCHAR", "stand identifier"),
                _org_ref("site the stand belongs to"),
                _c("species_group", "VARCHAR", "dominant species group", references="species_parameter.species_group"),
                _c("area_ha", "DOUBLE", "stand area", unit="ha", min=0.0, max=1e6),
                _c("origin", "VARCHAR", "planted or natural", allowed=("planted", "natural")),
                _c("established_year", "INTEGER", "planting or regeneration year", min=1800, max=2100),
            ),
            key=("stand_id",),
            clause="6.4.1",
        ),
        Table(
            "survey_plot",
            "Inventory sample plots measured on a survey date.",
            (
                _c("plot_id", "VARCHAR", "plot identifier"),
                _c("stand_id", "VARCHAR", "stand", references="forest_stand.stand_id"),
                _c("survey_date", "DATE", "measurement date"),
                _c("plot_area_ha", "DOUBLE", "plot area", unit="ha", min=0.001, max=10.0),
                _c("surveyor", "VARCHAR", "crew"),
            ),
            key=("plot_id", "survey_date"),
            clause="6.4.1",
        ),
        Table(
            "survey_tree",
            "Trees measured in a plot on a survey date.",
            (
                _c("plot_id", "VARCHAR", "plot", references="survey_plot.plot_id"),
                _c("survey_date", "DATE", "measurement date"),
                _c("tree_no", "INTEGER", "tree tag number"),
                _c("species_group", "VARCHAR", "species group", references="species_parameter.species_group"),
                _c("dbh_cm", "DOUBLE", "diameter at breast height (1.3 m)", unit="cm", min=1.0, max=300.0),
                _c("height_m", "DOUBLE", "tree height", unit="m", min=1.0, max=90.0),
                _c("volume_m3", "DOUBLE", "stem volume over bark", unit="m3", min=0.0, max=100.0),
            ),
            key=("plot_id", "survey_date", "tree_no"),
            clause="6.4.1",
        ),
        Table(
            "cap",
            "Emission caps (quotas) per organisation and year (clause 6.2.2).",
            (
                _org_ref("capped organisation"),
                _c("year", "INTEGER", "compliance year", min=2000, max=2100),
                _c("cap_tco2e", "DOUBLE", "emission quota", unit="tCO2e", min=0.0),
                _c("source", "VARCHAR", "allocation document"),
            ),
            key=("org_id", "year"),
            clause="6.2.2",
        ),
        Table(
            "credit_project",
            "Carbon-credit projects (clause 5.3).",
            (
                _c("project_id", "VARCHAR", "project identifier"),
                _org_ref("proponent organisation or site"),
                _c("name_zh", "VARCHAR", "Chinese name"),
                _c("name_en", "VARCHAR", "English name"),
                _c("project_type", "VARCHAR", "e.g. afforestation, forest_management, mangrove, methane_recovery"),
                _c("methodology", "VARCHAR", "methodology reference, e.g. CCER-14-001-V01"),
                _c("status", "VARCHAR", "current lifecycle state", allowed=PROJECT_STATUSES),
                _c("crediting_start", "DATE", "crediting period start"),
                _c("crediting_end", "DATE", "crediting period end"),
                _c("estimated_annual_tco2e", "DOUBLE", "ex-ante estimate", unit="tCO2e/yr", min=0.0),
            ),
            key=("project_id",),
            clause="5.3",
        ),
        Table(
            "project_event",
            "Project lifecycle and evaluation events (clause 5.3).",
            (
                _c("event_id", "VARCHAR", "event identifier"),
                _c("project_id", "VARCHAR", "project", references="credit_project.project_id"),
                _c("event_type", "VARCHAR", "initiated, validated, registered, monitoring_report, verified, accepted"),
                _c("event_date", "DATE", "date"),
                _c("actor", "VARCHAR", "who"),
                _c("note", "VARCHAR", "free text", nullable=True),
            ),
            key=("event_id",),
            clause="5.3",
        ),
        Table(
            "credit_event",
            "Credit registry events with serial ranges and a hash chain (clause 5.2).",
            (
                _c("event_id", "VARCHAR", "event identifier"),
                _c("project_id", "VARCHAR", "project the credits come from", references="credit_project.project_id"),
                _c("event_type", "VARCHAR", "registry operation", allowed=CREDIT_EVENTS),
                _c("event_time", "TIMESTAMP", "when", unit="UTC"),
                _c("vintage", "INTEGER", "vintage year", min=2000, max=2100),
                _c("serial_start", "BIGINT", "first serial number (inclusive)", min=0),
                _c("serial_end", "BIGINT", "last serial number (inclusive)", min=0),
                _c("quantity_tco2e", "DOUBLE", "credits moved", unit="tCO2e", min=0.0),
                _c("from_account", "VARCHAR", "debited account", nullable=True),
                _c("to_account", "VARCHAR", "credited account", nullable=True),
                _c("prev_hash", "VARCHAR", "hash of the previous event ('' for the first)"),
                _c("hash", "VARCHAR", "SHA-256 of this event's fields and prev_hash"),
            ),
            key=("event_id",),
            clause="5.2",
        ),
        Table(
            "carbon_price",
            "Daily carbon prices per market (clause 6.3).",
            (
                _c("market", "VARCHAR", "market, e.g. CEA (national allowance), CCER"),
                _c("day", "DATE", "trading day"),
                _c("close_cny", "DOUBLE", "closing price", unit="CNY/tCO2e", min=0.0, max=10000.0),
                _c("volume_t", "DOUBLE", "traded volume", unit="tCO2e", min=0.0),
            ),
            key=("market", "day"),
            clause="6.3",
        ),
        Table(
            "report_run",
            "Report notebook runs (papermill): what ran for which org, period and snapshot, and where the outputs are.",
            (
                _c("run_id", "VARCHAR", "run identifier"),
                _c("kind", "VARCHAR", "report kind", allowed=("monthly", "annual", "disclosure")),
                _org_ref("organisation reported on"),
                _c("period", "VARCHAR", "period label"),
                _c("snapshot_id", "BIGINT", "lake snapshot the report read"),
                _c("status", "VARCHAR", "outcome", allowed=("ok", "failed", "skipped")),
                _c("started_at", "TIMESTAMP", "start", unit="UTC"),
                _c("seconds", "DOUBLE", "duration", unit="s", min=0.0),
                _c("notebook_path", "VARCHAR", "executed notebook", nullable=True),
                _c("html_path", "VARCHAR", "standalone HTML", nullable=True),
                _c("table_path", "VARCHAR", "XLSX/CSV of the figures", nullable=True),
                _c("figures_sha256", "VARCHAR", "SHA-256 of the figures table", nullable=True),
                _c("error", "VARCHAR", "failing cell and message", nullable=True),
            ),
            key=("run_id",),
            clause="6.2.1, 6.2.3, 6.4.3",
        ),
        Table(
            "account",
            "Periodic carbon accounts, long format: one figure per org, period, method version and item; "
            "records the lake snapshot it was computed from.",
            (
                _org_ref("organisation the figure is for (includes its subtree)"),
                _c("period", "VARCHAR", "period label: '2025', '2025Q4' or '2025-10'"),
                _c("period_start", "DATE", "first day"),
                _c("period_end", "DATE", "last day"),
                _c("method_version", "VARCHAR", "accounting method version"),
                _c("item", "VARCHAR", "figure name, e.g. scope1_stationary_combustion, removals, net"),
                _c("value", "DOUBLE", "figure value in `unit`"),
                _c("unit", "VARCHAR", "unit of value, e.g. tCO2e, MWh"),
                _c("basis", "VARCHAR", "factor versions and method notes, e.g. 'grid=mee_enterprise_reporting:2022; gwp=AR5'"),
                _c("snapshot_id", "BIGINT", "lake snapshot the figure was computed from"),
                _c("computed_at", "TIMESTAMP", "when", unit="UTC"),
            ),
            key=("org_id", "period", "method_version", "item"),
            clause="6.2.3, 6.4.3",
            append_only=False,
            volatile=("computed_at",),
        ),
    )
}


def table(name: str) -> Table:
    """Return the table definition, or raise a KeyError listing the known tables."""
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"unknown lake table {name!r}; known tables: {sorted(TABLES)}") from None


def render_markdown() -> str:
    """The data model as Markdown (``carbon schema --markdown`` writes docs/data-model.md)."""
    lines = [
        "# Data model",
        "",
        f"Schema version {SCHEMA_VERSION}. Generated by `carbon schema --markdown` from "
        "`carbonlib/lake/schema.py`; do not edit by hand. Timestamps are UTC.",
        "",
    ]
    for t in TABLES.values():
        lines += [f"## `{t.name}`", "", t.doc, ""]
        meta = [f"key: ({', '.join(t.key)})"]
        if t.partition_by:
            meta.append(f"partitioned by {', '.join(t.partition_by)}")
        if t.clause:
            meta.append(f"standard clause {t.clause}")
        lines += ["; ".join(meta), "", "| column | type | unit | meaning | rules |", "|---|---|---|---|---|"]
        for c in t.columns:
            rules = []
            if not c.nullable:
                rules.append("required")
            if c.allowed:
                rules.append("one of " + ", ".join(map(str, c.allowed)))
            if c.min is not None or c.max is not None:
                rules.append(f"range [{c.min}, {c.max}]")
            if c.references:
                rules.append(f"references {c.references}")
            lines.append(f"| {c.name} | {c.type} | {c.unit or ''} | {c.doc} | {'; '.join(rules)} |")
        lines.append("")
    lines += ["## Telemetry metrics", "", "| metric | unit | meaning | plausible range |", "|---|---|---|---|"]
    for m in METRICS.values():
        lines.append(f"| {m.name} | {m.unit} | {m.description} | [{m.min_valid}, {m.max_valid}] |")
    return "\n".join(lines) + "\n"
