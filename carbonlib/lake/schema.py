"""The lake's data model, defined once.

Every table of ARCHITECTURE.md's data model is declared here as a :class:`Table` of
:class:`Column` objects.  The same definition produces the DDL (``CREATE TABLE``), the
validation rules used by :mod:`carbonlib.lake.writer`, the ``carbon schema`` text and
``docs/data-model.md``.  Units are stated per column; timestamps are UTC.

Telemetry metrics are declared in :data:`METRICS` with their canonical unit and the
physically plausible range; a value outside the range is quarantined, not stored.

Besides per-column rules (type, required, allowed values, range, reference) a table has
:class:`Rule` objects: plausibility checks across columns and tables (a reading before its
device was installed, a ledger period that ends before it starts, an org whose parent is
not one level above it), written as SQL over the typed batch and run by the writer.

Identifiers (``org_id``, ``device_id``, ``entry_id`` ...) use one documented alphabet,
:data:`ID_PATTERN`: ASCII letters and digits, ``_ - . :``, starting with a letter or digit,
at most 128 characters, never ``..``: no ``/``, quotes, spaces or control characters, so an
id is safe in a file name and in a message.  Free text refuses control characters (notes
may hold line breaks) and has a length limit.

Service-owned tables (``Table.owner``: the lake's own ``lake_meta`` and ``metric``, the
writer's quarantine ``telemetry_reject``, the derived ``account`` and ``telemetry_daily``,
the report run log) are written only by their services; the public writer refuses them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import UnknownTableError
from .sql import ident, literal

#: Name the DuckLake catalog is attached as (tables are ``lake.<table>``).
CATALOG = "lake"
#: The identifier alphabet (a regular expression matched against the whole id); ``..`` is refused too.
ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}"
#: Earliest plausible date of any dated row (eddy-covariance networks and China's energy statistics start later).
EARLIEST_DATE = "1990-01-01"
#: Length limits of free text (characters).
NAME_LENGTH = 200
TEXT_LENGTH = 2000
#: Longest stand boundary (WKT characters): a stand mapped with a few thousand vertices.
BOUNDARY_LENGTH = 200_000

#: Version of the data model.  Bump it together with a migration in ``migrations.py``.
SCHEMA_VERSION = 9

ORG_LEVELS = ("province", "city", "county", "enterprise", "site")
ORG_KINDS = ("government", "enterprise", "forest", "wetland", "urban_green")
INDUSTRIES = ("power", "cement", "paper", "logistics", "park")
DEVICE_KINDS = ("flux_tower", "electricity_meter", "heat_meter", "gas_meter", "fuel_meter", "production_meter")
#: Device lifecycle (clause 8.2; GB/T 22239 IoT extension: 入库、部署、维修、丢失、报废).  ``replaced``: another
#: physical instrument now measures at the same point (the series continues); see carbonlib.devices.
DEVICE_EVENTS = ("stocked", "installed", "calibrated", "repaired", "replaced", "removed", "lost", "retired", "scrapped")
#: The device state each lifecycle event leads to (events not listed keep the state: calibrated, repaired).
DEVICE_STATE_AFTER = {"stocked": "stocked", "installed": "active", "replaced": "active", "removed": "removed",
                      "lost": "lost", "retired": "retired", "scrapped": "scrapped"}
#: Alert rule kinds (carbonlib.alerts.checks), severities, lifecycle steps and the state each leaves.
ALERT_KINDS = ("device_silent", "stuck_value", "qc_share", "rejects_spike", "calibration_overdue", "cap_overrun",
               "job_failed", "ledger_overdue", "review_waiting")
ALERT_SEVERITIES = ("warning", "critical")
ALERT_EVENTS = ("opened", "escalated", "acknowledged", "cleared")
ALERT_STATES = ("active", "acknowledged", "cleared")
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
#: What an evidence attachment of a ledger entry is (table ``activity_evidence``).
EVIDENCE_KINDS = ("invoice", "meter_reading", "weighbridge_slip", "lab_report", "contract", "other")
#: Media types accepted as evidence, recognised by content (:mod:`carbonlib.ledger.evidence`).
EVIDENCE_MEDIA_TYPES = ("application/pdf", "image/png", "image/jpeg",
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "text/csv")
#: Steps of a ledger entry's review (table ``activity_review``); an entry's status is its newest step's status.
REVIEW_EVENTS = ("submitted", "returned", "approved", "rejected", "reversed", "corrected")
#: Derived statuses of entries awaiting a reviewer or their officer: the periods they touch are pending.
PENDING_STATUSES = ("submitted", "returned")
#: Units accepted in the activity ledger; each is a unit name known to carbonlib.units
#: (a test keeps the two in step).
ACTIVITY_UNITS = ("t", "kg", "10^4 t", "m3", "L", "Nm3", "10^4 Nm3", "GJ", "TJ", "MWh", "kWh", "tce")
#: Units an activity category may be entered in (a mass of fuel, never an energy; electricity in kWh/MWh).
CATEGORY_UNITS = {
    "stationary_combustion": ("t", "kg", "10^4 t", "m3", "L", "Nm3", "10^4 Nm3"),
    "mobile_combustion": ("t", "kg", "10^4 t", "m3", "L", "Nm3", "10^4 Nm3"),
    "biomass_combustion": ("t", "kg", "10^4 t", "m3", "L", "Nm3", "10^4 Nm3"),
    "process": ("t", "kg", "10^4 t"),
    "fugitive": ("t", "kg"),
    "waste": ("t", "kg", "10^4 t"),
    "purchased_electricity": ("kWh", "MWh"),
    "exported_electricity": ("kWh", "MWh"),
    "purchased_heat": ("GJ", "TJ", "MWh"),
    "exported_heat": ("GJ", "TJ", "MWh"),
}
#: Largest plausible amount of one ledger entry, per unit: an order of magnitude above a month of
#: China's largest single emitters (1e8 t of fuel or material, 1e10 m3 or 1e11 Nm3, 1e9 GJ).
ACTIVITY_AMOUNT_LIMITS = {
    "t": 1e8, "kg": 1e11, "10^4 t": 1e4, "m3": 1e10, "L": 1e13, "Nm3": 1e11, "10^4 Nm3": 1e7,
    "GJ": 1e9, "TJ": 1e6, "MWh": 2.8e8, "kWh": 2.8e11, "tce": 3.4e7,
}
#: Metrics each kind of device measures (a coal reading from an electricity meter is refused).
DEVICE_METRICS = {
    "flux_tower": ("NEE", "Rg", "Tair", "VPD", "Ustar"),
    "electricity_meter": ("electricity_import", "electricity_export"),
    "heat_meter": ("heat_supply",),
    "gas_meter": ("natural_gas",),
    "fuel_meter": ("coal", "diesel"),
    "production_meter": ("clinker", "paper"),
}
#: Tree levels from the root down; a parent is always at a higher level than its children.
LEVEL_RANK = {"province": 0, "city": 1, "county": 2, "enterprise": 3, "site": 3}
#: The kinds of node each level may be.
LEVEL_KINDS = {"province": ("government",), "city": ("government",), "county": ("government",),
               "enterprise": ("enterprise",), "site": ("forest", "wetland", "urban_green")}
EMISSION_FACTOR_KINDS = ("ncv", "carbon_content", "oxidation", "grid", "heat", "process",
                         "waste_carbon_content", "waste_fossil_fraction", "waste_burnout", "waste_ch4", "waste_n2o")
#: Factor kinds that are shares (at most 1).
SHARE_FACTOR_KINDS = ("oxidation", "waste_carbon_content", "waste_fossil_fraction", "waste_burnout")
PROJECT_STATUSES = ("initiated", "validated", "registered", "monitoring", "verified", "closed")
CREDIT_EVENTS = ("issue", "transfer", "retire", "cancel", "pledge", "release", "export")
RETIREMENT_PURPOSES = ("compliance", "voluntary")
GWP_ASSESSMENTS = ("SAR", "AR4", "AR5", "AR6")
REPORT_KINDS = ("monthly", "annual", "disclosure", "supervision")
#: Clause 6.2.2 requests about a cap: a regulator's adjustment of the allocation, an enterprise's application
#: for extra allowance, or for offsetting with credits.
CAP_REQUEST_KINDS = ("allocation_adjustment", "extra_allowance", "offset")
#: Dated changes of an organisation (table ``org_change``); creation is the org row itself (``opened_on``).
ORG_CHANGES = ("rename", "move", "close")
CAP_DECISIONS = ("granted", "refused")


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
    """One column: SQL type, unit, meaning and the checks every written row must pass.

    ``identifier``: the value follows :data:`ID_PATTERN`.  ``max_length``: longest text
    (VARCHAR; default :data:`NAME_LENGTH`).  ``multiline``: free text that may hold line
    breaks and tabs (other control characters are always refused).  ``blank_ok``: a required
    text that may be empty (otherwise blank text is refused).  ``future``: a DATE or
    TIMESTAMP that may lie in the future (a crediting period); other dates must lie between
    :data:`EARLIEST_DATE` and tomorrow.  ``since``: the schema version that added the column; a nullable
    column added after version 1 may be left out of a batch (it is written as NULL), so writers made
    for an older version keep working after a migration.
    """

    name: str
    type: str
    doc: str
    unit: str | None = None
    nullable: bool = False
    allowed: tuple | None = None
    min: float | None = None
    max: float | None = None
    references: str | None = None  # "table.column"
    identifier: bool = False
    max_length: int | None = NAME_LENGTH
    multiline: bool = False
    future: bool = False
    blank_ok: bool = False
    since: int = 1


@dataclass(frozen=True)
class Rule:
    """A plausibility check across columns or tables, run by the writer on the typed batch.

    ``condition`` is SQL that is true for a bad row.  It reads the batch as ``b`` and the
    aliases its table's :attr:`Table.rule_from` joins in (e.g. ``d`` for the reading's
    device); ``field`` names the column the message points at.
    """

    field: str
    condition: str
    reason: str


@dataclass(frozen=True)
class Table:
    """A lake table: columns, natural key, partitioning and its place in the standard.

    ``owner``: the service that alone writes the table (None: the public writer may);
    ``rules`` and ``rule_from``: see :class:`Rule` (``rule_from`` is a FROM clause with
    ``{rows} AS b`` for the rows checked, ``{batch}`` for the whole typed batch and
    ``{catalog}`` for the lake).
    """

    name: str
    doc: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    partition_by: tuple[str, ...] = ()
    clause: str = ""
    append_only: bool = True
    volatile: tuple[str, ...] = ()  # run stamps (e.g. computed_at), left out of content checksums
    owner: str | None = None
    rules: tuple[Rule, ...] = ()
    rule_from: str = "{rows} AS b"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"table {self.name!r} has no column {name!r}; columns: {self.column_names}")

    @property
    def partition_sql(self) -> str:
        """The PARTITIONED BY expressions (constants of this module)."""
        return ", ".join(self.partition_by)

    def ddl(self, catalog: str = CATALOG) -> str:
        cols = ",\n  ".join(f"{ident(c.name)} {c.type}{'' if c.nullable else ' NOT NULL'}" for c in self.columns)
        return f"CREATE TABLE IF NOT EXISTS {ident(catalog)}.{ident(self.name)} (\n  {cols}\n)"


def _c(name: str, type_: str, doc: str, **kw) -> Column:
    return Column(name, type_, doc, **kw)


def _id(name: str, doc: str, **kw) -> Column:
    """An identifier column (:data:`ID_PATTERN`)."""
    return Column(name, "VARCHAR", doc, identifier=True, max_length=None, **kw)


def _org_ref(doc: str = "organisation node the row belongs to") -> Column:
    return _id("org_id", doc, references="org.org_id")


def _in(values) -> str:
    """SQL list of string constants of this module."""
    return ", ".join(literal(v) for v in values)


def _case(column: str, mapping: dict) -> str:
    """SQL CASE mapping the string ``column`` through the constant ``mapping`` of this module."""
    whens = " ".join(f"WHEN {literal(k)} THEN {literal(v) if isinstance(v, str) else v}" for k, v in mapping.items())
    return f"(CASE {column} {whens} END)"


_KIND_METRICS = " OR ".join(f"(d.kind = {literal(kind)} AND b.metric IN ({_in(metrics)}))"
                            for kind, metrics in DEVICE_METRICS.items())
_TELEMETRY_RULES = (
    Rule("metric", f"d.kind IS NOT NULL AND NOT ({_KIND_METRICS})",
         "is not measured by this kind of device (e.g. coal on an electricity meter); see DEVICE_METRICS"),
    Rule("ts", "b.ts < d.installed_on", "is before the device was installed (device.installed_on)"),
    Rule("ts", f"s.event_type IN ({_in([e for e, state in DEVICE_STATE_AFTER.items() if state != 'active'])})",
         "is when the device was not installed and active (its lifecycle event before this time, table device_event, "
         "is stocked, removed, lost, retired or scrapped)"),
    Rule("ts", "epoch_us(b.ts) % (CAST(CASE WHEN d.interval_s >= 86400 THEN 900 ELSE d.interval_s END AS BIGINT) "
               "* 1000000) <> 0",
         "is off the device's reporting grid (a multiple of interval_s in UTC; daily meters: of 15 min)"),
)
#: The reading's device (``d``) and its state-changing lifecycle event in force at the reading's time (``s``).
_TELEMETRY_RULE_FROM = (
    "{rows} AS b LEFT JOIN {catalog}.device AS d ON d.device_id = b.device_id ASOF LEFT JOIN (SELECT device_id, "
    f"event_time, event_type FROM {{catalog}}.device_event WHERE event_type IN ({_in(DEVICE_STATE_AFTER)})) AS s "
    "ON s.device_id = b.device_id AND b.ts >= s.event_time")
_PARENT_RANK = _case("p.level", LEVEL_RANK)
_OWN_RANK = _case("b.level", LEVEL_RANK)
_ORG_RULES = (
    Rule("parent_id", "b.parent_id = b.org_id", "is the org itself: a node cannot be its own parent"),
    Rule("parent_id", "b.parent_id IS NULL AND b.level <> 'province'",
         "is missing: only the province is the root of the tree (give the parent org)"),
    Rule("parent_id", "b.parent_id IS NOT NULL AND b.level = 'province'", "is set, but the province is the root"),
    Rule("parent_id", "b.parent_id IS NULL AND (EXISTS (SELECT 1 FROM {catalog}.org o WHERE o.parent_id IS NULL "
                      "AND o.org_id <> b.org_id) OR (SELECT count(*) FROM {batch} x WHERE x.parent_id IS NULL) > 1)",
         "would make a second root: the org tree has exactly one (the province)"),
    Rule("parent_id", f"p.level IS NOT NULL AND {_PARENT_RANK} >= {_OWN_RANK}",
         "is not above the org: parents rank province > city > county > enterprise/site (so no cycles)"),
    Rule("region_code", "NOT regexp_full_match(b.region_code, '[0-9]{{6}}')",
         "must be a 6-digit administrative division code (GB/T 2260), e.g. 430121"),
    Rule("region_code", "(b.level = 'province' AND right(b.region_code, 4) <> '0000') "
                        "OR (b.level = 'city' AND (right(b.region_code, 2) <> '00' OR right(b.region_code, 4) = '0000')) "
                        "OR (b.level = 'county' AND right(b.region_code, 2) = '00')",
         "does not fit the level (GB/T 2260: province XX0000, city XXYY00, county XXYYZZ)"),
    Rule("region_code", "p.region_code IS NOT NULL AND NOT starts_with(b.region_code, "
                        "regexp_replace(p.region_code, '(00)+$', ''))",
         "lies outside the parent's administrative area (its code must start with the parent's)"),
    Rule("industry", "b.industry IS NOT NULL AND b.level <> 'enterprise'", "is only for enterprises"),
    Rule("kind", " OR ".join(f"(b.level = {literal(level)} AND b.kind NOT IN ({_in(kinds)}))"
                             for level, kinds in LEVEL_KINDS.items()),
         "does not fit the level (province/city/county: government; enterprise: enterprise; "
         "site: forest, wetland or urban_green)"),
)
_ORG_RULE_FROM = ("{rows} AS b LEFT JOIN (SELECT DISTINCT org_id, level, region_code FROM "
                  "(SELECT org_id, level, region_code FROM {catalog}.org UNION ALL "
                  "SELECT org_id, level, region_code FROM {batch})) AS p ON p.org_id = b.parent_id")
_ACTIVITY_RULES = (
    Rule("period_end", "b.period_end < b.period_start", "is before period_start"),
    Rule("period_end", "b.period_end - b.period_start > 366", "makes the period longer than a year (enter one entry per period)"),
    Rule("period_start", "b.period_start > current_date", "lies in the future"),
    *(Rule("unit", f"b.category = {literal(category)} AND b.unit NOT IN ({_in(units)})",
           f"is not a unit of {category} (use one of {', '.join(units)})")
      for category, units in CATEGORY_UNITS.items()),
    Rule("amount", f"abs(b.amount) > {_case('b.unit', ACTIVITY_AMOUNT_LIMITS)}",
         "is implausibly large for one entry (limits per unit in ACTIVITY_AMOUNT_LIMITS; check the unit)"),
    Rule("amount", "b.amount < 0 AND b.reverses_entry_id IS NULL",
         "is negative: only a reversal (reverses_entry_id) carries a negative amount"),
    Rule("amount", "o.entry_id IS NOT NULL AND b.amount <> -o.amount",
         "must be the negative of the reversed entry's amount"),
    Rule("reverses_entry_id", "o.entry_id IS NOT NULL AND (o.org_id <> b.org_id OR o.category <> b.category "
                              "OR o.activity_type <> b.activity_type OR o.unit <> b.unit)",
         "names an entry of another org, category, activity type or unit"),
    Rule("reverses_entry_id", "b.reverses_entry_id = b.entry_id", "is the entry itself"),
    *(Rule(field, f"b.{field} IS NOT NULL AND b.category NOT IN ('stationary_combustion', 'mobile_combustion')",
           "is a measured fuel parameter: only combustion entries carry one")
      for field in ("ncv", "carbon_content", "oxidation")),
    Rule("ncv", "b.ncv IS NOT NULL AND (b.ncv <= 0 OR b.ncv > 1000)",
         "is not a plausible NCV (GJ/t: 5-60; GJ/10^4 Nm3: 100-900)"),
    Rule("carbon_content", "b.carbon_content IS NOT NULL AND (b.carbon_content < 5 OR b.carbon_content > 40)",
         "is not a plausible carbon content (tC/TJ: natural gas 15.3, diesel 20.2, coal 26-27)"),
    Rule("oxidation", "b.oxidation IS NOT NULL AND (b.oxidation <= 0 OR b.oxidation > 1)",
         "is not a share above 0 and at most 1"),
    Rule("reverses_entry_id", "b.reverses_entry_id IS NOT NULL AND (SELECT count(DISTINCT r.entry_id) FROM "
                              "(SELECT entry_id, reverses_entry_id FROM {catalog}.activity UNION ALL "
                              "SELECT entry_id, reverses_entry_id FROM {batch}) r "
                              "WHERE r.reverses_entry_id = b.reverses_entry_id) > 1",
         "names an entry that is already reversed (an entry is reversed once)"),
)
_ACTIVITY_RULE_FROM = ("{rows} AS b LEFT JOIN (SELECT DISTINCT entry_id, org_id, amount, unit, category, activity_type "
                       "FROM (SELECT entry_id, org_id, amount, unit, category, activity_type FROM {catalog}.activity "
                       "UNION ALL SELECT entry_id, org_id, amount, unit, category, activity_type FROM {batch})) AS o "
                       "ON o.entry_id = b.reverses_entry_id")

_FACTOR_KEY = "kind, subject, series, data_year, effective_year"
_FACTOR_RULE_FROM = (f"{{rows}} AS b LEFT JOIN (SELECT {_FACTOR_KEY}, count(DISTINCT factor_id) AS n FROM "
                     f"(SELECT factor_id, {_FACTOR_KEY} FROM {{catalog}}.emission_factor UNION ALL "
                     f"SELECT factor_id, {_FACTOR_KEY} FROM {{batch}}) GROUP BY ALL) AS o ON o.kind = b.kind "
                     "AND o.subject = b.subject AND o.series = b.series AND o.data_year IS NOT DISTINCT FROM "
                     "b.data_year AND o.effective_year IS NOT DISTINCT FROM b.effective_year")


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "lake_meta",
            "Key/value facts about the lake itself (schema version, creator, demo seed).",
            (_id("key", "fact name"), _c("value", "VARCHAR", "fact value", max_length=TEXT_LENGTH)),
            key=("key",),
            append_only=False,
            owner="lake",
        ),
        Table(
            "org",
            "Organisation tree province > city > county > enterprise/site; every fact row carries an org_id.",
            (
                _id("org_id", "stable identifier, e.g. 'P43', 'C4301', 'E430102-01'"),
                _id("parent_id", "parent node, one level or more above; NULL only for the province (the one root)",
                    nullable=True, references="org.org_id"),
                _c("level", "VARCHAR", "tree level", allowed=ORG_LEVELS),
                _c("kind", "VARCHAR", "what the node is", allowed=ORG_KINDS),
                _c("name_zh", "VARCHAR", "Chinese name"),
                _c("name_en", "VARCHAR", "English name"),
                _c("region_code", "VARCHAR", "administrative division code of the node's area (GB/T 2260 style, 6 digits)"),
                _c("industry", "VARCHAR", "industry of an enterprise; NULL for other nodes", nullable=True, allowed=INDUSTRIES),
                _c("area_ha", "DOUBLE", "land area of a site", unit="ha", nullable=True, min=0.0),
                _c("latitude", "DOUBLE", "WGS84 latitude", unit="degree", nullable=True, min=-90.0, max=90.0),
                _c("longitude", "DOUBLE", "WGS84 longitude", unit="degree", nullable=True, min=-180.0, max=180.0),
                _c("opened_on", "DATE", "day the org came into being (NULL: before any data); renames, moves and "
                   "closure are dated changes in org_change", nullable=True, since=8),
            ),
            key=("org_id",),
            clause="4.2.1",
            rules=_ORG_RULES,
            rule_from=_ORG_RULE_FROM,
        ),
        Table(
            "device",
            "IoT devices (flux towers, meters) installed at an organisation.",
            (
                _id("device_id", "stable identifier"),
                _org_ref("organisation where the device is installed"),
                _c("kind", "VARCHAR", "device type", allowed=DEVICE_KINDS),
                _c("model", "VARCHAR", "manufacturer model"),
                _c("serial_no", "VARCHAR", "manufacturer serial number"),
                _c("interval_s", "INTEGER", "reporting interval", unit="s", allowed=(900, 1800, 3600, 86400)),
                _c("installed_on", "DATE", "installation date (first reading accepted; a stocked device: planned date)",
                   future=True),
                _c("vendor", "VARCHAR", "manufacturer", nullable=True, since=2),
                _c("latitude", "DOUBLE", "WGS84 latitude of the device", unit="degree", nullable=True, since=2,
                   min=-90.0, max=90.0),
                _c("longitude", "DOUBLE", "WGS84 longitude of the device", unit="degree", nullable=True, since=2,
                   min=-180.0, max=180.0),
                _c("calibration_due", "DATE", "calibration due date of the instrument registered (later ones: "
                   "device_event)", nullable=True, future=True, since=2),
            ),
            key=("device_id",),
            clause="8.2",
        ),
        Table(
            "device_event",
            "Device lifecycle events (clause 8.2).",
            (
                _id("event_id", "event identifier"),
                _id("device_id", "device", references="device.device_id"),
                _c("event_type", "VARCHAR", "lifecycle event", allowed=DEVICE_EVENTS),
                _c("event_time", "TIMESTAMP", "when it happened", unit="UTC"),
                _c("actor", "VARCHAR", "who did it"),
                _c("note", "VARCHAR", "free text", nullable=True, max_length=TEXT_LENGTH, multiline=True),
                _c("serial_no", "VARCHAR", "serial number of the instrument now measuring (replaced: the new one)",
                   nullable=True, since=2),
                _c("model", "VARCHAR", "model of that instrument", nullable=True, since=2),
                _c("calibration_due", "DATE", "next calibration due (calibrated, replaced)", nullable=True,
                   future=True, since=2),
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
            owner="lake",
        ),
        Table(
            "telemetry",
            "IoT measurements in long format, one row per device, metric and interval; append-only, partitioned by month.",
            (
                _id("device_id", "device (registered, and installed before the reading)", references="device.device_id"),
                _c("metric", "VARCHAR", "metric name (see table metric); one the device's kind measures",
                   allowed=tuple(METRICS)),
                _c("ts", "TIMESTAMP", "start of the reporting interval", unit="UTC"),
                _c("value", "DOUBLE", "measured value in the metric's canonical unit", unit="metric unit"),
                _c("qc", "UTINYINT", "quality flag: 0 good, 1 suspect, 2 bad", allowed=QC_FLAGS),
            ),
            key=("device_id", "metric", "ts"),
            partition_by=("year(ts)", "month(ts)"),
            clause="4.2.2 b, 7.3",
            rules=_TELEMETRY_RULES,
            rule_from=_TELEMETRY_RULE_FROM,
        ),
        Table(
            "telemetry_daily",
            "Telemetry rolled up per device, metric and UTC day (materialised by carbonlib.accounting.views."
            "refresh_telemetry_daily); dashboards read this, never raw telemetry.",
            (
                _id("device_id", "device", references="device.device_id"),
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
            owner="accounting",
        ),
        Table(
            "telemetry_reject",
            "Quarantined telemetry: the raw record and why it was refused (nothing is lost).",
            (
                _c("received_at", "TIMESTAMP", "when the batch was written", unit="UTC"),
                _c("source", "VARCHAR", "batch source (file name, topic, job)", max_length=TEXT_LENGTH),
                _c("row_number", "BIGINT", "0-based row number within the batch"),
                _c("field", "VARCHAR", "offending field"),
                _c("reason", "VARCHAR", "why the row was refused", max_length=TEXT_LENGTH),
                _c("payload", "VARCHAR", "the raw record as JSON", max_length=None, multiline=True),
            ),
            key=("received_at", "source", "row_number", "field"),
            clause="7.3",
            owner="quarantine",
        ),
        Table(
            "activity",
            "Emission activity ledger (台账): one entry per org, period, category and activity type. "
            "Corrections are new entries that reverse an earlier one; nothing is overwritten.",
            (
                _id("entry_id", "ledger entry identifier"),
                _org_ref("reporting organisation"),
                _c("period_start", "DATE", "first day of the activity period (not in the future)"),
                _c("period_end", "DATE", "last day of the activity period (on or after period_start, within a year)",
                   future=True),
                _c("category", "VARCHAR", "emission category (GB/T 32150)", allowed=ACTIVITY_CATEGORIES),
                _id("activity_type", "fuel, material or energy carrier, e.g. 'diesel', 'clinker', 'grid'"),
                _c("amount", "DOUBLE", "activity amount in `unit` (negative only in reversals, then exactly the "
                   "reversed amount negated; plausible limits per unit)"),
                _c("unit", "VARCHAR", "unit of amount (one the category allows: a mass or volume of fuel, kWh/MWh "
                   "of electricity, GJ of heat)", allowed=ACTIVITY_UNITS),
                _c("evidence_ref", "VARCHAR", "reference to the voucher (invoice, meter reading, weighbridge slip)"),
                _c("author", "VARCHAR", "who entered it"),
                _c("status", "VARCHAR", "review status", allowed=ACTIVITY_STATUSES),
                _c("entered_at", "TIMESTAMP", "when it was entered", unit="UTC"),
                _id("reverses_entry_id", "entry this one reverses (corrections): same org, category, type and unit; "
                    "an entry is reversed once", nullable=True, references="activity.entry_id"),
                _c("ncv", "DOUBLE", "measured net calorific value of the fuel (lab report attached), in the unit of "
                   "the fuel's default NCV (GJ/t, or GJ/10^4 Nm3 for gases); overrides the default", nullable=True,
                   since=4),
                _c("carbon_content", "DOUBLE", "measured carbon content per unit heat, tC/TJ; overrides the default",
                   unit="tC/TJ", nullable=True, since=4),
                _c("oxidation", "DOUBLE", "measured carbon oxidation rate (a share); overrides the default",
                   nullable=True, since=4),
            ),
            key=("entry_id",),
            clause="5.1, 6.2.1",
            rules=_ACTIVITY_RULES,
            rule_from=_ACTIVITY_RULE_FROM,
        ),
        Table(
            "activity_review",
            "Review of ledger entries (clause 5.1, four-eyes): one row per step, submitted, returned with a "
            "comment, approved, rejected, reversed, corrected by a later entry. Entries stay as entered; an "
            "entry's status is the status its newest step names (without steps, the status it was entered with).",
            (
                _id("review_id", "step identifier: the entry id and the step's sequence number, e.g. 'A-1:r002'"),
                _id("entry_id", "the ledger entry reviewed", references="activity.entry_id"),
                _c("event", "VARCHAR", "review step (its name is the entry's status after it)", allowed=REVIEW_EVENTS),
                _c("actor", "VARCHAR", "account that took the step"),
                _c("event_time", "TIMESTAMP", "when the step was taken", unit="UTC"),
                _c("comment", "VARCHAR", "reviewer's or submitter's comment (required when returning, rejecting "
                   "or reversing)", nullable=True, max_length=TEXT_LENGTH, multiline=True),
                _id("related_entry_id", "the other entry of a correction: on 'submitted', the entry this one "
                    "corrects; on 'corrected', the entry that corrected it", nullable=True,
                    references="activity.entry_id"),
            ),
            key=("review_id",),
            clause="5.1, 10.1",
            owner="ledger",
        ),
        Table(
            "activity_evidence",
            "Evidence attached to ledger entries (invoices, meter photos, lab reports): the file is stored once, "
            "content-addressed by its SHA-256, in the lake's evidence folder; this table says which entry it backs.",
            (
                _id("entry_id", "the ledger entry the file backs", references="activity.entry_id"),
                _id("sha256", "SHA-256 of the file's bytes (64 lower-case hex digits): its name in the evidence store"),
                _c("filename", "VARCHAR", "file name as uploaded (shown, never used as a path)", max_length=255),
                _c("media_type", "VARCHAR", "media type recognised from the content", allowed=EVIDENCE_MEDIA_TYPES),
                _c("size_bytes", "BIGINT", "file size", unit="bytes", min=1),
                _c("kind", "VARCHAR", "what the file shows", allowed=EVIDENCE_KINDS),
                _c("attached_by", "VARCHAR", "account that attached it"),
                _c("attached_at", "TIMESTAMP", "when", unit="UTC"),
            ),
            key=("entry_id", "sha256"),
            clause="5.1",
            rules=(Rule("sha256", "length(b.sha256) <> 64 OR NOT regexp_full_match(b.sha256, '[0-9a-f]+')",
                        "is not a SHA-256 (64 lower-case hex digits)"),),
            owner="ledger",
        ),
        Table(
            "emission_factor",
            "Emission factors and fuel parameters with their source; one row per kind, subject, series and year.",
            (
                _id("factor_id", "identifier"),
                _c("kind", "VARCHAR", "what the factor is", allowed=EMISSION_FACTOR_KINDS),
                _c("subject", "VARCHAR", "fuel, process or grid region the factor applies to"),
                _c("series", "VARCHAR", "factor family or publication series"),
                _c("data_year", "INTEGER", "year the factor describes", nullable=True),
                _c("value", "DOUBLE", "factor value in `unit` (never negative; an oxidation rate at most 1)", min=0.0),
                _c("unit", "VARCHAR", "unit of value"),
                _c("source", "VARCHAR", "citation of the primary source", max_length=TEXT_LENGTH),
                _c("verified", "BOOLEAN", "traced to the primary source"),
                _c("effective_year", "INTEGER", "first accounting year the row is used for (empty: every year); for "
                   "the same kind, subject and series the accounts use the row of the latest data_year, then of the "
                   "latest effective_year, in force in the year accounted", nullable=True, since=5),
                _c("uncertainty_pct", "DOUBLE", "half-width of the 95 % confidence interval of `value` as a "
                   "percentage of it, as the source states it (IPCC 2006 Vol.1 Ch.3); empty: the source gives none, "
                   "and figures computed with the row carry no interval", unit="%", nullable=True, min=0.0, since=9),
            ),
            key=("factor_id",),
            clause="6.2.3",
            rules=(Rule("value", f"b.kind IN ({_in(SHARE_FACTOR_KINDS)}) AND b.value > 1",
                        "is a share (oxidation rate, carbon content, fossil fraction, burnout): at most 1"),
                   Rule("effective_year", "o.n > 1",
                        "gives a second row for the same kind, subject, series, data_year and effective_year "
                        "(the accounts could not tell which to use): give the new row a later effective_year"),),
            rule_from=_FACTOR_RULE_FROM,
        ),
        Table(
            "gwp",
            "Global warming potentials (100-year) per IPCC assessment report.",
            (
                _c("gas", "VARCHAR", "gas name, e.g. CH4"),
                _c("assessment", "VARCHAR", "IPCC assessment report", allowed=GWP_ASSESSMENTS),
                _c("value", "DOUBLE", "GWP100 (positive)", unit="tCO2e/t", min=0.0),
                _c("source", "VARCHAR", "citation", max_length=TEXT_LENGTH),
            ),
            key=("gas", "assessment"),
            clause="6.2.3",
            rules=(Rule("value", "b.value <= 0", "must be positive (a GWP is relative to CO2 = 1)"),),
        ),
        Table(
            "species_parameter",
            "Biomass expansion parameters per species group (IPCC 2006 Vol.4 Eq 2.8).",
            (
                _id("species_group", "species group identifier"),
                _c("name_zh", "VARCHAR", "Chinese name"),
                _c("latin_name", "VARCHAR", "botanical name", nullable=True),
                _c("volume_based", "BOOLEAN", "biomass can be derived from stem volume (false e.g. for bamboo)"),
                _c("wood_density", "DOUBLE", "basic wood density WD", unit="t d.m. m-3", nullable=True, min=0.1, max=1.2),
                _c("bef", "DOUBLE", "biomass expansion factor BEF (above-ground/stem)", unit="1", nullable=True, min=1.0, max=3.5),
                _c("root_shoot", "DOUBLE", "root-to-shoot ratio R", unit="1", nullable=True, min=0.0, max=1.0),
                _c("carbon_fraction", "DOUBLE", "carbon fraction of dry matter CF", unit="tC t-1 d.m.", min=0.3, max=0.6),
                _c("source", "VARCHAR", "citation", max_length=TEXT_LENGTH),
                _c("verified", "BOOLEAN", "traced to the primary source"),
            ),
            key=("species_group",),
            clause="6.4.3",
        ),
        Table(
            "forest_stand",
            "Forest, wetland and urban-green stands (inventory units) of a site.",
            (
                _id("stand_id", "stand identifier"),
                _org_ref("site the stand belongs to"),
                _id("species_group", "dominant species group", references="species_parameter.species_group"),
                _c("area_ha", "DOUBLE", "stand area", unit="ha", min=0.0, max=1e6),
                _c("origin", "VARCHAR", "planted or natural", allowed=("planted", "natural")),
                _c("established_year", "INTEGER", "planting or regeneration year", min=1800, max=2100),
                _c("boundary_wkt", "VARCHAR", "stand boundary (小班边界): a WKT POLYGON or MULTIPOLYGON in WGS84 "
                   "longitude/latitude; NULL while not mapped", nullable=True, max_length=BOUNDARY_LENGTH),
            ),
            key=("stand_id",),
            clause="6.4.1",
        ),
        Table(
            "survey_plot",
            "Inventory sample plots measured on a survey date.",
            (
                _id("plot_id", "plot identifier"),
                _id("stand_id", "stand", references="forest_stand.stand_id"),
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
                _id("plot_id", "plot", references="survey_plot.plot_id"),
                _c("survey_date", "DATE", "measurement date"),
                _c("tree_no", "INTEGER", "tree tag number"),
                _id("species_group", "species group", references="species_parameter.species_group"),
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
            "org_change",
            "Dated changes of the org tree (clause 4.2.1 master data with history): rename, move under another "
            "parent, close.  The org tree as of a day applies every change effective on or before it to table org "
            "(carbonlib.accounting.views.org_tree), so a year's accounts and reports use that year's names and "
            "parents.",
            (
                _id("change_id", "change identifier"),
                _org_ref("organisation changed"),
                _c("change", "VARCHAR", "what changes", allowed=ORG_CHANGES),
                _c("effective_from", "DATE", "first day the change holds"),
                _c("name_zh", "VARCHAR", "new Chinese name (rename)", nullable=True),
                _c("name_en", "VARCHAR", "new English name (rename)", nullable=True),
                _id("parent_id", "new parent (move)", nullable=True, references="org.org_id"),
                _c("reason", "VARCHAR", "why (administrative decision, merger, document number)",
                   max_length=TEXT_LENGTH, multiline=True),
                _c("changed_by", "VARCHAR", "account that recorded the change"),
                _c("recorded_at", "TIMESTAMP", "when it was recorded", unit="UTC"),
            ),
            key=("change_id",),
            clause="4.2.1",
            rules=(Rule("name_zh", "b.change = 'rename' AND (coalesce(trim(b.name_zh), '') = '' "
                                   "OR coalesce(trim(b.name_en), '') = '')", "is empty: a rename gives both names"),
                   Rule("parent_id", "b.change = 'move' AND b.parent_id IS NULL", "is missing: a move names the new parent"),
                   Rule("parent_id", "b.parent_id = b.org_id", "is the org itself: a node cannot be its own parent")),
            owner="orgs",
        ),
        Table(
            "cap_request",
            "Requests about a cap (clause 6.2.2): a regulator's allocation adjustment, an enterprise's application "
            "for extra allowance or for offsetting with credits; decided once, by another person (cap_decision).",
            (
                _id("request_id", "request identifier"),
                _org_ref("capped organisation"),
                _c("year", "INTEGER", "compliance year", min=2000, max=2100),
                _c("kind", "VARCHAR", "what is asked", allowed=CAP_REQUEST_KINDS),
                _c("amount_tco2e", "DOUBLE", "amount asked (an allocation adjustment may be negative)", unit="tCO2e"),
                _c("reason", "VARCHAR", "why (new production line, allocation error, …)", max_length=TEXT_LENGTH,
                   multiline=True),
                _c("evidence_ref", "VARCHAR", "supporting document (approval, contract, registry retirement)"),
                _c("requested_by", "VARCHAR", "account that made the request"),
                _c("requested_at", "TIMESTAMP", "when", unit="UTC"),
            ),
            key=("request_id",),
            clause="6.2.2",
            rules=(Rule("amount_tco2e", "b.amount_tco2e = 0", "is zero: ask for an amount"),
                   Rule("amount_tco2e", "b.amount_tco2e < 0 AND b.kind <> 'allocation_adjustment'",
                        "is negative: only an allocation adjustment may lower a cap")),
            owner="caps",
        ),
        Table(
            "cap_decision",
            "The decision on a cap request (clause 6.2.2): granted (with the amount granted) or refused, with a "
            "comment; one per request, never by the person who asked (four-eyes).  Granted allocation adjustments "
            "and extra allowances change the cap the accounts use.",
            (
                _id("request_id", "the request decided", references="cap_request.request_id"),
                _c("decision", "VARCHAR", "outcome", allowed=CAP_DECISIONS),
                _c("amount_tco2e", "DOUBLE", "amount granted (at most the amount asked; 0 when refused)",
                   unit="tCO2e"),
                _c("decided_by", "VARCHAR", "account that decided"),
                _c("decided_at", "TIMESTAMP", "when", unit="UTC"),
                _c("comment", "VARCHAR", "the decision's grounds", max_length=TEXT_LENGTH, multiline=True),
            ),
            key=("request_id",),
            clause="6.2.2",
            owner="caps",
        ),
        Table(
            "credit_project",
            "Carbon-credit projects (clause 5.3).",
            (
                _id("project_id", "project identifier"),
                _org_ref("proponent organisation or site"),
                _c("name_zh", "VARCHAR", "Chinese name"),
                _c("name_en", "VARCHAR", "English name"),
                _c("project_type", "VARCHAR", "e.g. afforestation, forest_management, mangrove, methane_recovery"),
                _c("methodology", "VARCHAR", "methodology reference, e.g. CCER-14-001-V01"),
                _c("status", "VARCHAR", "current lifecycle state", allowed=PROJECT_STATUSES),
                _c("crediting_start", "DATE", "crediting period start"),
                _c("crediting_end", "DATE", "crediting period end (on or after its start)", future=True),
                _c("estimated_annual_tco2e", "DOUBLE", "ex-ante estimate", unit="tCO2e/yr", min=0.0),
            ),
            key=("project_id",),
            clause="5.3",
            rules=(Rule("crediting_end", "b.crediting_end < b.crediting_start", "is before crediting_start"),),
        ),
        Table(
            "project_stand",
            "The stands a credit project claims (its project area, clause 5.3).  A stand claimed by two projects "
            "whose crediting periods overlap, or overlapping the mapped stand of another such project, is a double "
            "claim (``carbon registry claims``).",
            (
                _id("project_id", "project", references="credit_project.project_id"),
                _id("stand_id", "stand claimed", references="forest_stand.stand_id"),
            ),
            key=("project_id", "stand_id"),
            clause="5.3",
        ),
        Table(
            "project_event",
            "Project lifecycle and evaluation events (clause 5.3).",
            (
                _id("event_id", "event identifier"),
                _id("project_id", "project", references="credit_project.project_id"),
                _c("event_type", "VARCHAR", "initiated, validated, registered, monitoring_report, verified, accepted"),
                _c("event_date", "DATE", "date"),
                _c("actor", "VARCHAR", "who"),
                _c("note", "VARCHAR", "free text", nullable=True, max_length=TEXT_LENGTH, multiline=True),
            ),
            key=("event_id",),
            clause="5.3",
        ),
        Table(
            "credit_event",
            "The credit registry's published mirror (clause 5.2): one row per serial range an operation moved.  "
            "The registry's own store is the system of record (``carbonlib.registry``); each row names the registry "
            "transaction (``op_seq``, its leaf in the registry's verifiable log) it comes from.",
            (
                _id("event_id", "event identifier (the registry transaction's id, and the range's number)"),
                _id("project_id", "project the credits come from", references="credit_project.project_id"),
                _c("event_type", "VARCHAR", "registry operation", allowed=CREDIT_EVENTS),
                _c("event_time", "TIMESTAMP", "when", unit="UTC"),
                _c("vintage", "INTEGER", "vintage year", min=2000, max=2100),
                _c("serial_start", "BIGINT", "first serial number (inclusive)", min=0),
                _c("serial_end", "BIGINT", "last serial number (inclusive)", min=0),
                _c("quantity_tco2e", "DOUBLE", "credits moved: one per serial number of the range", unit="tCO2e",
                   min=0.0),
                _id("from_account", "debited account", nullable=True),
                _id("to_account", "credited account", nullable=True),
                _c("prev_hash", "VARCHAR", "leaf hash of the registry transaction before ('' for the first)",
                   blank_ok=True),
                _c("hash", "VARCHAR", "RFC 6962 leaf hash of the registry transaction (hex)"),
                _c("op_seq", "BIGINT", "the transaction's number in the registry log (NULL: written before schema 6)",
                   min=0, nullable=True, since=6),
                _c("purpose", "VARCHAR", "of a retirement: compliance (offsets a cap) or voluntary",
                   allowed=RETIREMENT_PURPOSES, nullable=True, since=6),
                _c("cap_year", "INTEGER", "of a compliance retirement: the cap year it offsets", min=2000, max=2100,
                   nullable=True, since=6),
                _c("beneficiary", "VARCHAR", "of a retirement: on whose behalf", nullable=True, since=6),
                _c("price_cny", "DOUBLE", "of a transfer that is a sale: price agreed", unit="CNY/tCO2e", min=0.0,
                   nullable=True, since=6),
            ),
            key=("event_id",),
            clause="5.2",
            rules=(Rule("serial_end", "b.serial_end < b.serial_start", "is before serial_start"),
                   Rule("quantity_tco2e", "b.quantity_tco2e <> b.serial_end - b.serial_start + 1",
                        "does not equal the length of the serial range (serial_end - serial_start + 1)"),
                   Rule("cap_year", "(b.purpose = 'compliance') <> (b.cap_year IS NOT NULL)",
                        "is required for a compliance retirement and only for it")),
            owner="registry",
        ),
        Table(
            "carbon_price",
            "Daily carbon prices per market (clause 6.3).",
            (
                _id("market", "market, e.g. CEA (national allowance), CCER"),
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
                _id("run_id", "run identifier"),
                _c("kind", "VARCHAR", "report kind", allowed=REPORT_KINDS),
                _org_ref("organisation reported on"),
                _c("period", "VARCHAR", "period label"),
                _c("snapshot_id", "BIGINT", "lake snapshot the report read"),
                _c("status", "VARCHAR", "outcome", allowed=("ok", "failed", "skipped")),
                _c("started_at", "TIMESTAMP", "start", unit="UTC"),
                _c("seconds", "DOUBLE", "duration", unit="s", min=0.0),
                _c("notebook_path", "VARCHAR", "executed notebook", nullable=True, max_length=TEXT_LENGTH),
                _c("html_path", "VARCHAR", "standalone HTML", nullable=True, max_length=TEXT_LENGTH),
                _c("table_path", "VARCHAR", "XLSX/CSV of the figures", nullable=True, max_length=TEXT_LENGTH),
                _c("figures_sha256", "VARCHAR", "SHA-256 of the figures table", nullable=True),
                _c("error", "VARCHAR", "failing cell and message", nullable=True, max_length=TEXT_LENGTH, multiline=True),
            ),
            key=("run_id",),
            clause="6.2.1, 6.2.3, 6.4.3",
            owner="reporting",
        ),
        Table(
            "alert_event",
            "Alert lifecycle (clause 9.3.10 monitoring and early warning): one row per step of an alert, "
            "opened -> (escalated) -> acknowledged -> cleared; an alert's state is its newest row.",
            (
                _id("event_id", "step identifier"),
                _id("alert_id", "alert identifier: rule, subject and opening time"),
                _id("rule", "rule name in the rules file (pipelines/alerts.yaml)"),
                _c("kind", "VARCHAR", "what the rule watches", allowed=ALERT_KINDS),
                _c("subject", "VARCHAR", "what the alert is about: a device, an org, a job or 'platform'"),
                _org_ref("organisation whose operators see the alert (the root for platform-wide alerts)"),
                _c("severity", "VARCHAR", "warning or critical", allowed=ALERT_SEVERITIES),
                _c("event_type", "VARCHAR", "lifecycle step", allowed=ALERT_EVENTS),
                _c("state", "VARCHAR", "state after the step", allowed=ALERT_STATES),
                _c("level", "INTEGER", "escalation level after the step (0: first recipients)", min=0, max=9),
                _c("event_time", "TIMESTAMP", "when the step happened", unit="UTC"),
                _c("actor", "VARCHAR", "who took the step (the evaluating account, or the operator who acknowledged)"),
                _c("facts", "VARCHAR", "what the rule found, as JSON (the figures its message is made of)",
                   max_length=TEXT_LENGTH),
                _c("note", "VARCHAR", "free text (acknowledgement note)", nullable=True, max_length=TEXT_LENGTH,
                   multiline=True),
            ),
            key=("event_id",),
            clause="5.5.2, 9.3.10",
            owner="alerts",
        ),
        Table(
            "account",
            "Periodic carbon accounts, long format: one figure per org, period, method version and item; "
            "records the lake snapshot it was computed from.",
            (
                _org_ref("organisation the figure is for (includes its subtree)"),
                _c("period", "VARCHAR", "period label: '2025', '2025Q4' or '2025-10'"),
                _c("period_start", "DATE", "first day"),
                _c("period_end", "DATE", "last day (after today for the running period: figures to date)", future=True),
                _c("method_version", "VARCHAR", "accounting method version"),
                _c("item", "VARCHAR", "figure name, e.g. scope1_stationary_combustion, removals, net"),
                _c("value", "DOUBLE", "figure value in `unit`"),
                _c("unit", "VARCHAR", "unit of value, e.g. tCO2e, MWh"),
                _c("basis", "VARCHAR", "factor versions and method notes, e.g. 'grid=mee_enterprise_reporting:2022; gwp=AR5' "
                   "('' for plain sums)", max_length=TEXT_LENGTH, blank_ok=True),
                _c("snapshot_id", "BIGINT", "lake snapshot the figure was computed from"),
                _c("computed_at", "TIMESTAMP", "when", unit="UTC"),
                _c("ci95_low", "DOUBLE", "lower end of the figure's 95 % interval in `unit` (IPCC 2006 Vol.1 Ch.3 "
                   "Approach 1); empty when `uncertainty` says why there is none", nullable=True, since=9),
                _c("ci95_high", "DOUBLE", "upper end of the figure's 95 % interval in `unit`", nullable=True, since=9),
                _c("uncertainty", "VARCHAR", "how the interval was derived, or why the figure has none",
                   nullable=True, max_length=TEXT_LENGTH, since=9),
            ),
            key=("org_id", "period", "method_version", "item"),
            clause="6.2.3, 6.4.3",
            append_only=False,
            volatile=("computed_at",),
            owner="accounting",
        ),
    )
}


def table(name: str) -> Table:
    """Return the table definition, or raise a KeyError listing the known tables."""
    try:
        return TABLES[name]
    except (KeyError, TypeError):
        raise UnknownTableError(f"unknown lake table {str(name)[:60]!r}; known tables: {sorted(TABLES)}") from None


def render_markdown() -> str:
    """The data model as Markdown (``carbon schema --markdown`` writes docs/data-model.md)."""
    lines = [
        "# Data model",
        "",
        f"Schema version {SCHEMA_VERSION}. Generated by `carbon schema --markdown` from "
        "`carbonlib/lake/schema.py`; do not edit by hand. Timestamps are UTC.",
        "",
        f"Identifiers match `{ID_PATTERN}` and never hold `..` (letters, digits, `_ - . :`; no `/`, quotes,",
        "spaces or control characters).  Text refuses control characters (notes may hold line breaks) and is",
        f"at most {NAME_LENGTH} characters unless stated.  Dates and time stamps lie between {EARLIEST_DATE} and",
        "tomorrow unless stated.  Tables owned by a service are written only by that service.",
        "",
    ]
    for t in TABLES.values():
        lines += [f"## `{t.name}`", "", t.doc, ""]
        meta = [f"key: ({', '.join(t.key)})"]
        if t.partition_by:
            meta.append(f"partitioned by {', '.join(t.partition_by)}")
        if t.clause:
            meta.append(f"standard clause {t.clause}")
        if t.owner:
            meta.append(f"written only by the {t.owner} service")
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
            if c.identifier:
                rules.append("identifier")
            elif c.type == "VARCHAR" and c.max_length != NAME_LENGTH:
                rules.append(f"at most {c.max_length} characters" if c.max_length else "any length")
            if c.future:
                rules.append("may lie in the future")
            lines.append(f"| {c.name} | {c.type} | {c.unit or ''} | {c.doc} | {'; '.join(rules)} |")
        if t.rules:
            lines += ["", "Plausibility rules (a row is refused when):", ""]
            lines += [f"- `{r.field}` {r.reason}" for r in t.rules]
        lines.append("")
    lines += ["## Telemetry metrics", "", "| metric | unit | meaning | plausible range |", "|---|---|---|---|"]
    for m in METRICS.values():
        lines.append(f"| {m.name} | {m.unit} | {m.description} | [{m.min_valid}, {m.max_valid}] |")
    return "\n".join(lines) + "\n"
