"""Factor library: fuel parameters, grid and heat emission factors, global warming potentials.

The coefficients are package reference data in ``carbonlib/data/factors/*.csv`` (read with
:mod:`importlib.resources`; nothing else is read). Every row carries a ``source`` citation and a
``verified`` flag:

* ``verified = true``: the value was checked against a retrieved copy of the cited document or a
  published report quoting it (the source text names that report);
* ``verified = false``: the value is what the cited document is understood to contain, but it has
  not been re-checked against a copy. Treat it as a documented default to be confirmed before
  formal reporting.

Fuel parameter families
-----------------------
``gbt2589``
    China statistical family: net calorific values (NCV) from GB/T 2589-2020 Appendix A (the same
    "average low heating values" used by energy statistics), carbon content per unit heat (CC) and
    oxidation factor (OF) from the NDRC 2013 enterprise GHG accounting guidelines.
``ipcc_guidelines``
    The GB/T 32150-2015 Appendix B / NDRC 2015 industry guideline family, whose NCVs for oil
    products follow IPCC-based defaults. Diesel differs: 42.652 GJ/t (gbt2589) against 43.330 GJ/t
    (ipcc_guidelines), i.e. 3.0959 against 3.1451 tCO2 per tonne.

Grid factor series
------------------
``mee_enterprise_reporting``
    National grid average factor the Ministry of Ecology and Environment (MEE) prescribes for
    enterprise GHG reports (e.g. 0.5703 tCO2/MWh for 2022).
``mee_nbs_average``
    MEE/NBS (National Bureau of Statistics) electricity CO2 emission factors, national and regional
    averages (e.g. 0.5366 tCO2/MWh national 2022), published from 2024 on.
``mee_nbs_average_excl_market_nonfossil``, ``mee_nbs_fossil``
    The two other MEE/NBS national series (excluding market-traded non-fossil electricity; fossil
    electricity only).

:func:`grid_factor` returns a :class:`Factor`: a record that also behaves as a float
(``float(f)``, ``f * 1000``), so callers can compute with it and still keep its provenance.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Factor", "FuelParameters", "SpeciesParameters", "factor_table", "fuel_parameters",
    "grid_factor", "gwp", "heat_factor", "heat_parameter", "lake_rows", "list_fuels", "species_parameters",
]

FUEL_FAMILIES = ("gbt2589", "ipcc_guidelines")
ASSESSMENTS = ("SAR", "AR4", "AR5", "AR6")

_TABLES = {
    "fuels": "data/factors/fuels.csv",
    "grid": "data/factors/grid.csv",
    "heat": "data/factors/heat.csv",
    "gwp": "data/factors/gwp.csv",
    "process": "data/factors/process.csv",
    "waste": "data/factors/waste.csv",
    "species_parameters": "data/species_parameters.csv",
}

_REGION_ALIASES = {
    "全国": "national", "华北": "north", "东北": "northeast", "华东": "east", "华中": "central",
    "西北": "northwest", "南方": "south", "西南": "southwest",
}


@functools.cache
def _rows(table: str) -> tuple[dict[str, str], ...]:
    """Rows of a packaged CSV table as dicts of strings (cached)."""
    path = resources.files("carbonlib").joinpath(_TABLES[table])
    with path.open(encoding="utf-8", newline="") as handle:
        return tuple(csv.DictReader(handle))


def _flag(text: str) -> bool:
    return text.strip().lower() == "true"


def factor_table(name: str) -> pd.DataFrame:
    """A packaged coefficient table as a DataFrame (e.g. to seed the lake's reference tables).

    Parameters
    ----------
    name : {"fuels", "grid", "heat", "gwp", "process", "waste", "species_parameters"}
        Table name.

    Returns
    -------
    pandas.DataFrame
        The CSV content, with numeric columns parsed and ``verified`` as bool.
    """
    import pandas as pd

    if name not in _TABLES:
        raise ValueError(f"unknown factor table {name!r}; known tables: {', '.join(_TABLES)}")
    path = resources.files("carbonlib").joinpath(_TABLES[name])
    with path.open(encoding="utf-8") as handle:
        frame = pd.read_csv(handle)
    frame["verified"] = frame["verified"].astype(bool)
    return frame


def lake_rows() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The packaged coefficients as rows of the lake's ``emission_factor`` and ``gwp`` tables (a new lake is
    seeded with them; the accounts then read the lake's rows, which an operator may supersede).

    ``factor_id`` is ``<kind>:<subject>:<series>`` (``grid:<region>:<series>:<data year>`` for grid factors);
    ``effective_year`` is empty: the packaged rows apply to every year until a later row supersedes them.
    """
    import pandas as pd

    rows = []

    def add(kind: str, subject: str, series: str, value: float, unit: str, source: str, verified: bool,
            data_year: int | None = None, factor_id: str | None = None) -> None:
        rows.append(dict(factor_id=factor_id or f"{kind}:{subject}:{series}", kind=kind, subject=subject,
                         series=series, data_year=data_year, value=float(value), unit=unit, source=source,
                         verified=bool(verified), effective_year=None))

    for f in factor_table("fuels").itertuples():
        for kind, value, unit in (("ncv", f.ncv, f.ncv_unit), ("carbon_content", f.carbon_content, f.cc_unit),
                                  ("oxidation", f.oxidation, "1")):
            add(kind, f.fuel, f.family, value, unit, f.source, f.verified)
    for g in factor_table("grid").itertuples():
        add("grid", g.region, g.series, g.value, g.unit, f"{g.source} (published {g.publication})", g.verified,
            data_year=int(g.data_year), factor_id=f"grid:{g.region}:{g.series}:{g.data_year}")
    for h in factor_table("heat").itertuples():
        add("heat", h.parameter, "default", h.value, h.unit, h.source, h.verified, factor_id=f"heat:{h.parameter}")
    for p in factor_table("process").itertuples():
        add("process", p.process, "default", p.value, p.unit, p.source, p.verified, factor_id=f"process:{p.process}")
    for w in factor_table("waste").itertuples():
        add(w.kind, w.waste, w.series, w.value, w.unit, w.source, w.verified)
    emission_factor = pd.DataFrame(rows).astype({"data_year": "Int32", "effective_year": "Int32"})
    gwp_rows = factor_table("gwp")[["gas", "assessment", "value", "source"]]
    return emission_factor, gwp_rows.reset_index(drop=True)


@dataclass(frozen=True)
class Factor:
    """An emission factor with its provenance; usable as a float.

    Attributes
    ----------
    value : float
        The factor, in ``unit``.
    unit : str
        E.g. ``"tCO2/MWh"`` or ``"tCO2/GJ"``.
    series : str
        Factor series (see module docstring).
    data_year : int or None
        Year the factor describes (None for time-invariant defaults).
    publication : str
        When it was published.
    source : str
        Citation of the publishing document.
    verified : bool
        Whether the value was checked against a copy of the source (see module docstring).
    """

    value: float
    unit: str
    series: str
    data_year: int | None
    publication: str
    source: str
    verified: bool

    def __float__(self) -> float:
        return self.value

    def __mul__(self, other):
        return self.value * other

    __rmul__ = __mul__


@dataclass(frozen=True)
class FuelParameters:
    """Default combustion parameters of one fuel in one family.

    Attributes
    ----------
    fuel, name_zh, family : str
        Fuel key (e.g. ``"diesel"``), Chinese name, parameter family.
    ncv : float
        Net calorific value in ``ncv_unit`` (GJ/t or GJ/10^4 Nm3).
    ncv_unit : str
        ``"GJ/<activity unit>"``.
    carbon_content : float
        Carbon content per unit heat, tC/TJ (numerically kgC/GJ).
    oxidation : float
        Carbon oxidation factor, fraction 0-1.
    source : str
        Citation.
    verified : bool
        See module docstring.
    """

    fuel: str
    name_zh: str
    family: str
    ncv: float
    ncv_unit: str
    carbon_content: float
    oxidation: float
    source: str
    verified: bool

    @property
    def activity_unit(self) -> str:
        """Unit the NCV refers to, e.g. ``"t"`` or ``"10^4 Nm3"``."""
        return self.ncv_unit.split("/", 1)[1]


@dataclass(frozen=True)
class SpeciesParameters:
    """Biomass expansion parameters of a tree species group.

    Attributes
    ----------
    species_group, name_zh, latin : str
        Group key, Chinese name, Latin name.
    volume_based : bool
        False for groups (bamboo) whose biomass is not derived from stem volume.
    wood_density : float or None
        Basic wood density, t d.m./m3.
    bef : float or None
        Biomass expansion factor, stem to above-ground biomass, dimensionless.
    root_shoot : float or None
        Root-to-shoot ratio, dimensionless.
    carbon_fraction : float
        tC per t d.m.
    source : str
        Citation.
    verified : bool
        See module docstring.
    """

    species_group: str
    name_zh: str
    latin: str
    volume_based: bool
    wood_density: float | None
    bef: float | None
    root_shoot: float | None
    carbon_fraction: float
    source: str
    verified: bool


def list_fuels(family: str = "gbt2589") -> list[str]:
    """Fuel keys available in a parameter family.

    Parameters
    ----------
    family : {"gbt2589", "ipcc_guidelines"}
        Parameter family (see module docstring).

    Returns
    -------
    list of str
    """
    _check_family(family)
    return [row["fuel"] for row in _rows("fuels") if row["family"] == family]


def _check_family(family: str) -> None:
    if family not in FUEL_FAMILIES:
        raise ValueError(f"unknown fuel parameter family {family!r}; known families: "
                         f"{', '.join(FUEL_FAMILIES)}")


def fuel_parameters(fuel: str, family: str = "gbt2589") -> FuelParameters:
    """Default NCV, carbon content and oxidation factor of a fuel.

    Parameters
    ----------
    fuel : str
        Fuel key (``"diesel"``) or Chinese name (``"柴油"``).
    family : {"gbt2589", "ipcc_guidelines"}
        Parameter family (see module docstring).

    Returns
    -------
    FuelParameters

    Raises
    ------
    ValueError
        Unknown family, or fuel not in the family (the message lists the known fuels).
    """
    _check_family(family)
    for row in _rows("fuels"):
        if row["family"] == family and fuel in (row["fuel"], row["name_zh"]):
            return FuelParameters(
                fuel=row["fuel"], name_zh=row["name_zh"], family=family,
                ncv=float(row["ncv"]), ncv_unit=row["ncv_unit"],
                carbon_content=float(row["carbon_content"]), oxidation=float(row["oxidation"]),
                source=row["source"], verified=_flag(row["verified"]),
            )
    raise ValueError(f"unknown fuel {fuel!r} in family {family!r}; known fuels: "
                     f"{', '.join(list_fuels(family))}. Or pass ncv, carbon_content and "
                     f"oxidation explicitly.")


def grid_factor(year: int, series: str = "mee_enterprise_reporting",
                region: str = "national") -> Factor:
    """Electricity (grid) CO2 emission factor.

    Parameters
    ----------
    year : int
        Data year the factor describes (e.g. 2022).
    series : str
        ``"mee_enterprise_reporting"`` (default), ``"mee_nbs_average"``,
        ``"mee_nbs_average_excl_market_nonfossil"`` or ``"mee_nbs_fossil"``.
    region : str
        ``"national"`` or a regional grid (``"north"``, ``"northeast"``, ``"east"``,
        ``"central"``, ``"northwest"``, ``"south"``, ``"southwest"``; Chinese names such as
        ``"华北"`` accepted). Regional values exist only in ``mee_nbs_average``.

    Returns
    -------
    Factor
        Value in tCO2/MWh with its provenance; ``float(grid_factor(2022))`` gives 0.5703.

    Raises
    ------
    ValueError
        Unknown series or region, or no factor for that year (the message lists the years and
        series available).
    """
    region = _REGION_ALIASES.get(region, region)
    rows = _rows("grid")
    series_known = sorted({row["series"] for row in rows})
    if series not in series_known:
        raise ValueError(f"unknown grid factor series {series!r}; known series: "
                         f"{', '.join(series_known)}")
    in_series = [row for row in rows if row["series"] == series]
    regions = sorted({row["region"] for row in in_series})
    if region not in regions:
        raise ValueError(f"no region {region!r} in grid factor series {series!r}; "
                         f"regions: {', '.join(regions)}")
    for row in in_series:
        if row["region"] == region and int(row["data_year"]) == int(year):
            return Factor(
                value=float(row["value"]), unit=row["unit"], series=series,
                data_year=int(row["data_year"]), publication=row["publication"],
                source=row["source"], verified=_flag(row["verified"]),
            )
    years = sorted({int(row["data_year"]) for row in in_series if row["region"] == region})
    years_by_series: dict[str, list[str]] = {}
    for row in rows:
        if row["region"] == region:
            years_by_series.setdefault(row["series"], []).append(row["data_year"])
    coverage = "; ".join(f"{name}: {', '.join(sorted(found))}"
                         for name, found in sorted(years_by_series.items()))
    raise ValueError(
        f"no grid factor for year {year} in series {series!r}, region {region!r}; available "
        f"years: {', '.join(map(str, years))}. Years by series for region {region!r}: "
        f"{coverage}. Or pass an explicit factor."
    )


def heat_parameter(name: str) -> Factor:
    """A heat-accounting constant from ``heat.csv``.

    Parameters
    ----------
    name : str
        ``"heat_emission_factor"`` (tCO2/GJ), ``"water_enthalpy_20c"`` (kJ/kg),
        ``"water_specific_heat"`` (kJ/(kg·K)) or ``"hot_water_reference_temperature"`` (°C).

    Returns
    -------
    Factor
    """
    rows = _rows("heat")
    for row in rows:
        if row["parameter"] == name:
            return Factor(value=float(row["value"]), unit=row["unit"], series=name,
                          data_year=None, publication="", source=row["source"],
                          verified=_flag(row["verified"]))
    raise ValueError(f"unknown heat parameter {name!r}; known: "
                     f"{', '.join(row['parameter'] for row in rows)}")


def heat_factor() -> Factor:
    """Default CO2 emission factor of purchased heat: 0.11 tCO2/GJ (GB/T 32150-2015 App. B).

    Returns
    -------
    Factor
    """
    return heat_parameter("heat_emission_factor")


def gwp(gas: str, assessment: str = "AR5") -> float:
    """100-year global warming potential of a gas.

    Parameters
    ----------
    gas : str
        ``"CO2"``, ``"CH4"``, ``"N2O"``, ``"SF6"``, ``"NF3"``, ``"CF4"``, ``"C2F6"``,
        ``"HFC-23"``, ``"HFC-32"``, ``"HFC-125"``, ``"HFC-134a"``, ``"HFC-143a"``,
        ``"HFC-152a"``, ``"HFC-227ea"``, ``"HFC-236fa"``, ``"HFC-245fa"``. Case and the hyphen
        are ignored (``"hfc134a"`` works). Under AR6 methane must be explicit:
        ``"CH4_fossil"`` (29.8) or ``"CH4_non_fossil"`` (27.0), IPCC AR6 WG1 Table 7.15.
    assessment : {"SAR", "AR4", "AR5", "AR6"}
        IPCC assessment report. The NDRC enterprise accounting guidelines (2013-2015) use SAR
        values (CH4 21, N2O 310); AR5 is the set for Paris Agreement transparency reporting
        (decision 18/CMA.1, annex para. 37).

    Returns
    -------
    float
        tCO2e per tonne of gas.

    Raises
    ------
    ValueError
        Unknown assessment or gas (the message lists the gases of that assessment).
    """
    if assessment not in ASSESSMENTS:
        raise ValueError(f"unknown assessment {assessment!r}; known: {', '.join(ASSESSMENTS)}")
    rows = [row for row in _rows("gwp") if row["assessment"] == assessment]
    wanted = _gas_key(gas)
    for row in rows:
        if _gas_key(row["gas"]) == wanted:
            return float(row["value"])
    hint = ""
    if assessment == "AR6" and wanted == "CH4":
        hint = " AR6 gives methane two values: use 'CH4_fossil' (29.8) or 'CH4_non_fossil' (27.0)."
    raise ValueError(f"no {assessment} GWP for gas {gas!r}.{hint} Gases with {assessment} "
                     f"values: {', '.join(row['gas'] for row in rows)}")


def _gas_key(gas: str) -> str:
    return gas.replace("-", "").replace(" ", "").upper()


def species_parameters(group: str) -> SpeciesParameters:
    """Wood density, BEF, root:shoot ratio and carbon fraction of a species group.

    Parameters
    ----------
    group : str
        Group key (``"chinese_fir"``) or Chinese name (``"杉木"``); see
        ``factor_table("species_parameters")`` for the list.

    Returns
    -------
    SpeciesParameters

    Raises
    ------
    ValueError
        Unknown group (the message lists the known groups).
    """
    def number(text: str) -> float | None:
        return float(text) if text.strip() else None

    rows = _rows("species_parameters")
    for row in rows:
        if group in (row["species_group"], row["name_zh"]):
            return SpeciesParameters(
                species_group=row["species_group"], name_zh=row["name_zh"], latin=row["latin"],
                volume_based=_flag(row["volume_based"]), wood_density=number(row["wood_density"]),
                bef=number(row["bef"]), root_shoot=number(row["root_shoot"]),
                carbon_fraction=float(row["carbon_fraction"]), source=row["source"],
                verified=_flag(row["verified"]),
            )
    raise ValueError(f"unknown species group {group!r}; known groups: "
                     + ", ".join(f"{row['species_group']} ({row['name_zh']})" for row in rows))
