"""The factor library the accounts use: the lake's ``emission_factor`` and ``gwp`` rows in force for a year.

A new lake is seeded with the packaged coefficients (:func:`carbonlib.factors.lake_rows`); from then on
the lake's rows are the truth.  An operator supersedes a factor by adding a row (``carbon factors add``):
with a later ``data_year`` (a newly published grid factor) or the same one and a later
``effective_year`` (a corrected value from that accounting year on).  Rows are never edited, so
every account can say which rows it used, and a report made at an older snapshot still finds them.

Which row is in force for ``kind``, ``subject`` and ``series`` in accounting year Y: among the rows
with ``data_year`` and ``effective_year`` empty or not after Y, the one with the latest
``data_year``, then the latest ``effective_year`` (empty counts as earliest).  The lake refuses
two rows that tie (see the rule of table ``emission_factor``).

Every figure names the rows it used in its ``basis`` as ``ef=<factor_id>`` (``ef=gwp:<gas>:<AR>``
for GWPs); :func:`rows_named` turns those notes back into the rows, for the method notes of reports.
"""

from __future__ import annotations

from dataclasses import dataclass
import pandas as pd

from .. import factors
from ..lake import Lake
from . import views
from ..lake.schema import EMISSION_FACTOR_KINDS

#: Grid factor series of enterprise reporting (MEE) and its region.
GRID_SERIES = "mee_enterprise_reporting"
GRID_REGION = "national"
#: GWP100 set of the MEE enterprise reporting guidelines (IPCC AR5).
GWP_ASSESSMENT = "AR5"
#: Fuel parameter families in order of preference (GB/T 2589 statistics first; see :mod:`carbonlib.factors`).
FUEL_FAMILIES = ("gbt2589", "ipcc_guidelines")
#: Waste incineration parameters (IPCC 2006 Vol. 5 Eq. 5.1 as in the provincial inventory guidelines).
WASTE_KINDS = ("waste_carbon_content", "waste_fossil_fraction", "waste_burnout", "waste_ch4", "waste_n2o")
#: A grid factor older than this many years before the year accounted is not used.
GRID_MAX_AGE_YEARS = 10
#: Prefix of a factor row's id in a figure's ``basis``.
BASIS_PREFIX = "ef="


class FactorMissing(ValueError):
    """No factor row of the asked kind and subject is in force for the year accounted (the message names the fix)."""


@dataclass(frozen=True)
class FactorRow:
    """One row of the factor library as used for a figure."""

    factor_id: str
    kind: str
    subject: str
    series: str
    value: float
    unit: str
    source: str
    verified: bool
    uncertainty_pct: float | None = None  # 95 % half-width in % of value; None: the source gives none

    @property
    def basis(self) -> str:
        """The note a figure computed with this row carries (``ef=<factor_id>``)."""
        return BASIS_PREFIX + self.factor_id


class FactorLibrary:
    """The factor rows in force in one accounting ``year`` (see the module doc for the rule)."""

    def __init__(self, rows: pd.DataFrame, gwp: pd.DataFrame, year: int) -> None:
        self.year = int(year)
        data_year = pd.to_numeric(rows.data_year, errors="coerce")
        effective = pd.to_numeric(rows.get("effective_year", pd.Series(pd.NA, index=rows.index)), errors="coerce")
        usable = (data_year.isna() | (data_year <= year)) & (effective.isna() | (effective <= year))
        ranked = rows[usable].assign(_data=data_year[usable].fillna(-1), _effective=effective[usable].fillna(-1))
        ranked = ranked.sort_values(["kind", "subject", "series", "_data", "_effective", "factor_id"])
        self._in_force = ranked.groupby(["kind", "subject", "series"], sort=False).tail(1).set_index(
            ["kind", "subject", "series"]).sort_index()
        self._gwp = gwp[gwp.assessment == GWP_ASSESSMENT].set_index("gas")

    @classmethod
    def of_lake(cls, lake: Lake, year: int, snapshot: int | None = None) -> FactorLibrary:
        """The library of ``lake`` (as of ``snapshot``, default latest) for accounting year ``year``."""
        return cls(lake.read("emission_factor", snapshot=snapshot), lake.read("gwp", snapshot=snapshot), year)

    def in_force_ids(self) -> list[str]:
        """Ids of the rows in force (one per kind, subject and series)."""
        return sorted(self._in_force.factor_id)

    # ------------------------------------------------------------------ look-ups
    def row(self, kind: str, subject: str, series: str) -> FactorRow:
        """The row of ``kind``, ``subject`` and ``series`` in force; FactorMissing naming the fix when none is."""
        try:
            r = self._in_force.loc[(kind, subject, series)]
        except KeyError:
            raise FactorMissing(
                f"no {kind} factor for {subject!r} (series {series!r}) in force in {self.year} in table "
                f"emission_factor; fix: carbon factors add --kind {kind} --subject {subject} --series {series} "
                "--value … --unit … --source …") from None
        pct = r.get("uncertainty_pct")
        return FactorRow(str(r.factor_id), kind, subject, series, float(r.value), str(r.unit), str(r.source),
                         bool(r.verified), None if pct is None or pd.isna(pct) else float(pct))

    def _subjects(self, kind: str) -> pd.DataFrame:
        return self._in_force.xs(kind, level="kind") if kind in self._in_force.index.get_level_values("kind") \
            else self._in_force.iloc[0:0].droplevel("kind")

    def fuel_family(self, fuel: str) -> str:
        """The first family of :data:`FUEL_FAMILIES` with an NCV of ``fuel`` (FactorMissing when none has)."""
        for family in FUEL_FAMILIES:
            if (fuel, family) in self._subjects("ncv").index:
                return family
        raise FactorMissing(f"no fuel parameters for {fuel!r} in force in {self.year} (families "
                            f"{', '.join(FUEL_FAMILIES)}); fix: carbon factors add --kind ncv --subject {fuel} …")

    def fuel(self, fuel: str) -> tuple[FactorRow, FactorRow, FactorRow]:
        """NCV, carbon content (tC/TJ) and oxidation rate of ``fuel``, all of one family."""
        family = self.fuel_family(fuel)
        return (self.row("ncv", fuel, family), self.row("carbon_content", fuel, family),
                self.row("oxidation", fuel, family))

    def fuels(self) -> list[str]:
        """Fuels with all three combustion parameters in one family."""
        return self._complete("ncv", self.fuel)

    def _complete(self, kind: str, look_up) -> list[str]:
        """Subjects of ``kind`` for which ``look_up(subject)`` finds every row it needs."""
        found = []
        for subject in sorted({s for s, _ in self._subjects(kind).index}):
            try:
                look_up(subject)
            except FactorMissing:
                continue
            found.append(subject)
        return found

    def grid(self) -> FactorRow:
        """The enterprise-reporting grid factor (tCO2/MWh) of the year or the latest earlier one published."""
        row = self.row("grid", GRID_REGION, GRID_SERIES)
        data_year = int(self._in_force.loc[("grid", GRID_REGION, GRID_SERIES)].data_year)
        if data_year < self.year - GRID_MAX_AGE_YEARS:
            raise FactorMissing(f"the newest {GRID_SERIES} grid factor ({row.factor_id}, data year {data_year}) is "
                                f"more than {GRID_MAX_AGE_YEARS} years older than {self.year}; fix: add the "
                                "published factor with carbon factors add --kind grid")
        return row

    def heat(self) -> FactorRow:
        """The default emission factor of purchased heat (tCO2/GJ)."""
        return self.row("heat", "heat_emission_factor", "default")

    def process(self, subject: str) -> FactorRow:
        """The process emission factor of ``subject`` (tCO2 per t of product or raw material)."""
        return self.row("process", subject, "default")

    def processes(self) -> list[str]:
        """Process subjects with a factor in force."""
        return sorted({s for s, _ in self._subjects("process").index})

    def gwp(self, gas: str) -> FactorRow:
        """GWP100 (tCO2e/t) of ``gas`` in :data:`GWP_ASSESSMENT`, from the lake's ``gwp`` table."""
        if gas not in self._gwp.index:
            raise FactorMissing(f"no {GWP_ASSESSMENT} GWP of {gas!r} in table gwp; fix: append the row "
                                f"(gas {gas!r}, assessment {GWP_ASSESSMENT!r}, value, source)")
        r = self._gwp.loc[gas]
        return FactorRow(f"gwp:{gas}:{GWP_ASSESSMENT}", "gwp", gas, GWP_ASSESSMENT, float(r.value), "tCO2e/t",
                         str(r.source), True)

    def gases(self) -> list[str]:
        """Gases other than CO2 with a GWP (the fugitive emissions an entry may report)."""
        return sorted(g for g in self._gwp.index if g != "CO2")

    def waste(self, waste: str) -> dict[str, FactorRow]:
        """The incineration parameters of ``waste`` (kind -> row; series as packaged or added)."""
        out = {}
        for kind in WASTE_KINDS:
            subjects = self._subjects(kind)
            series = sorted(s for w, s in subjects.index if w == waste)
            if not series:
                raise FactorMissing(f"no {kind} factor for waste {waste!r} in force in {self.year}; fix: carbon "
                                    f"factors add --kind {kind} --subject {waste} …")
            out[kind] = self.row(kind, waste, series[-1])
        return out

    def wastes(self) -> list[str]:
        """Waste types with every incineration parameter in force."""
        return self._complete("waste_carbon_content", self.waste)


def seed(lake: Lake) -> int:
    """Append the packaged factors and GWPs the lake does not hold yet (by ``factor_id``; GWPs by gas and
    assessment): all of them in a new lake, the ones a newer carbonlib ships in an older one.  Rows already
    there are kept as they are (an operator's rows are never replaced).  Returns the rows added."""
    emission_factor, gwp = factors.lake_rows()
    have = set(lake.read("emission_factor").factor_id)
    have_gwp = set(map(tuple, lake.read("gwp")[["gas", "assessment"]].to_numpy()))
    new = emission_factor[~emission_factor.factor_id.isin(have)]
    new_gwp = gwp[[(g, a) not in have_gwp for g, a in zip(gwp.gas, gwp.assessment)]]
    added = 0
    if len(new):
        added += lake.append("emission_factor", new, source="carbonlib/data").inserted
    if len(new_gwp):
        added += lake.append("gwp", new_gwp, source="carbonlib/data").inserted
    return added


def rows_named(lake: Lake, bases: list[str] | pd.Series, snapshot: int | None = None) -> pd.DataFrame:
    """The factor rows the ``ef=`` notes of ``bases`` name: factor_id, value, unit, source, verified
    (GWPs as ``gwp:<gas>:<assessment>``), sorted by id; for the method notes of a report."""
    ids = sorted({part.strip()[len(BASIS_PREFIX):] for basis in bases if isinstance(basis, str)
                  for part in basis.split(";") if part.strip().startswith(BASIS_PREFIX)})
    columns = ["factor_id", "value", "unit", "source", "verified"]
    if not ids:
        return pd.DataFrame(columns=columns)
    rows = lake.read("emission_factor", snapshot=snapshot)
    gwp = lake.read("gwp", snapshot=snapshot)
    gwp = gwp.assign(factor_id="gwp:" + gwp.gas + ":" + gwp.assessment, unit="tCO2e/t", verified=True)
    found = pd.concat([rows[columns], gwp[columns]], ignore_index=True)
    return found[found.factor_id.isin(ids)].sort_values("factor_id", ignore_index=True)


def add_factor(security, principal, settings, *, kind: str, subject: str, series: str, value: float, unit: str,
               source: str, effective_year: int, data_year: int | None = None, verified: bool = False,
               factor_id: str | None = None, uncertainty_pct: float | None = None) -> FactorRow:
    """Add a factor row that supersedes the one in force from ``effective_year`` on (clause 6.2.3).

    ``principal`` needs ``manage_factors`` (a reviewer) on the root of the org tree, since a factor
    changes the figures of every org; the operation is audited.  The id defaults to
    ``<kind>:<subject>:<series>:<data year, or 'y' and the effective year>``.  Refused with nothing
    written (message naming the field): an unknown kind, an empty source, a share above 1, a row that
    ties with one already there, a negative uncertainty.  ``uncertainty_pct``: the half-width of the 95 %
    interval the source states, in % of the value (None: it states none; the figures then carry no interval).
    The accounts use the row from their next refresh on.
    """
    if uncertainty_pct is not None and not float(uncertainty_pct) >= 0:
        raise ValueError(f"uncertainty_pct: {uncertainty_pct!r} is not a percentage ≥ 0 (the 95 % half-width "
                         "the source states, e.g. 5 for ±5 %)")
    if kind not in EMISSION_FACTOR_KINDS:
        raise ValueError(f"kind: {kind!r} is not one of {', '.join(EMISSION_FACTOR_KINDS)}")
    if not str(source).strip():
        raise ValueError("source: give the citation of the primary source (document, table, page)")
    suffix = str(int(data_year)) if data_year is not None else f"y{int(effective_year)}"
    factor_id = factor_id or f"{kind}:{subject}:{series}:{suffix}"
    row = pd.DataFrame([dict(factor_id=factor_id, kind=kind, subject=subject, series=series, data_year=data_year,
                             value=float(value), unit=unit, source=str(source).strip(), verified=bool(verified),
                             effective_year=int(effective_year),
                             uncertainty_pct=None if uncertainty_pct is None else float(uncertainty_pct))]).astype(
        {"data_year": "Int32", "effective_year": "Int32", "uncertainty_pct": "Float64"})
    with Lake.open(settings) as lake:
        paths = views.org_paths(lake)
        root = min(paths, key=lambda org: (paths[org].count("/"), org)) if paths else None
        with security.operation(principal, "manage_factors", root, paths=paths, object=f"factor {factor_id}",
                                detail=f"{kind} {subject} {series} = {float(value)} {unit} from {int(effective_year)}"):
            lake.append("emission_factor", row, source=f"factors:{principal.username}")
    return FactorRow(factor_id, kind, subject, series, float(value), unit, str(source).strip(), bool(verified),
                     None if uncertainty_pct is None else float(uncertainty_pct))
