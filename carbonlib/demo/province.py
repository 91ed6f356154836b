"""The demo province: organisation tree, sites, enterprises and their devices.

The province is modelled on Hunan (湖南省, code 430000): real city and county names,
GB/T 2260 codes and boundaries (:mod:`carbonlib.boundaries`; every enterprise and site lies
inside its county), fictitious enterprises and sites.  Everything is derived from the seed,
so the same seed and scale always give the same province.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd

from .. import boundaries

# (code, zh, en, lat, lon, counties [(code, zh, en)])
_CITIES = [
    ("430100", "长沙市", "Changsha", 28.23, 112.94,
     [("430121", "长沙县", "Changsha County"), ("430181", "浏阳市", "Liuyang"), ("430182", "宁乡市", "Ningxiang"),
      ("430111", "雨花区", "Yuhua")]),
    ("430200", "株洲市", "Zhuzhou", 27.83, 113.13,
     [("430281", "醴陵市", "Liling"), ("430223", "攸县", "You County"), ("430225", "炎陵县", "Yanling"),
      ("430212", "渌口区", "Lukou")]),
    ("430300", "湘潭市", "Xiangtan", 27.83, 112.94,
     [("430321", "湘潭县", "Xiangtan County"), ("430381", "湘乡市", "Xiangxiang"), ("430382", "韶山市", "Shaoshan"),
      ("430304", "岳塘区", "Yuetang")]),
    ("430400", "衡阳市", "Hengyang", 26.89, 112.57,
     [("430421", "衡阳县", "Hengyang County"), ("430423", "衡山县", "Hengshan"), ("430481", "耒阳市", "Leiyang"),
      ("430482", "常宁市", "Changning")]),
]

INDUSTRY_MIX = ("power", "cement", "paper", "logistics", "park")
_INDUSTRY_ZH = {"power": "电厂", "cement": "水泥", "paper": "纸业", "logistics": "物流", "park": "产业园"}
_INDUSTRY_EN = {"power": "Power Plant", "cement": "Cement", "paper": "Paper", "logistics": "Logistics", "park": "Industrial Park"}
_SITE_KINDS = ("forest", "forest", "wetland", "urban_green")
_SITE_ZH = {"forest": "林场", "wetland": "湿地公园", "urban_green": "城市绿地"}
_SITE_EN = {"forest": "Forest Farm", "wetland": "Wetland Park", "urban_green": "Urban Green"}

#: Metrics metered per industry: (metric, device kind).
INDUSTRY_METERS: dict[str, tuple[tuple[str, str], ...]] = {
    "power": (("coal", "fuel_meter"), ("electricity_export", "electricity_meter"), ("electricity_import", "electricity_meter")),
    "cement": (("electricity_import", "electricity_meter"), ("coal", "fuel_meter"), ("clinker", "production_meter")),
    "paper": (("electricity_import", "electricity_meter"), ("heat_supply", "heat_meter"), ("natural_gas", "gas_meter"), ("paper", "production_meter")),
    "logistics": (("diesel", "fuel_meter"), ("electricity_import", "electricity_meter")),
    "park": (("electricity_import", "electricity_meter"), ("natural_gas", "gas_meter")),
}
TOWER_METRICS = ("NEE", "Rg", "Tair", "VPD", "Ustar")


@dataclass(frozen=True)
class Scale:
    """Size of a demo province."""

    name: str
    cities: int
    counties_per_city: int
    enterprises_per_county: int
    sites_per_county: int
    towers: int
    years: tuple[int, ...]
    meter_interval_s: int


SCALES = {
    "small": Scale("small", 2, 2, 3, 2, 2, (2025,), 3600),
    "medium": Scale("medium", 3, 3, 5, 2, 4, (2024, 2025), 900),
    "large": Scale("large", 4, 4, 23, 3, 8, (2023, 2024, 2025), 900),
}


def scale(name: str) -> Scale:
    """The named scale, or a ValueError listing the choices."""
    try:
        return SCALES[name]
    except KeyError:
        raise ValueError(f"unknown demo scale {name!r}; choose one of {list(SCALES)}") from None


def build_orgs(sc: Scale, rng: np.random.Generator) -> pd.DataFrame:
    """Organisation tree province > city > county > enterprise/site."""
    rows = [dict(org_id="P43", parent_id=None, level="province", kind="government", name_zh="湖南省",
                 name_en="Hunan Province", region_code="430000", industry=None, area_ha=None,
                 latitude=27.61, longitude=111.71)]
    for city_code, city_zh, city_en, lat, lon, counties in _CITIES[: sc.cities]:
        city_id = f"C{city_code[:4]}"
        rows.append(dict(org_id=city_id, parent_id="P43", level="city", kind="government", name_zh=city_zh,
                         name_en=city_en, region_code=city_code, industry=None, area_ha=None, latitude=lat, longitude=lon))
        for county_code, county_zh, county_en in counties[: sc.counties_per_city]:
            county_id = f"D{county_code}"
            outline = boundaries.regions()[county_code]
            c_lon, c_lat = outline.interior_point()
            places = iter(outline.random_points(sc.enterprises_per_county + sc.sites_per_county, rng))
            rows.append(dict(org_id=county_id, parent_id=city_id, level="county", kind="government",
                             name_zh=county_zh, name_en=county_en, region_code=county_code, industry=None,
                             area_ha=None, latitude=round(c_lat, 4), longitude=round(c_lon, 4)))
            short_zh, short_en = county_zh.rstrip("县市区"), county_en.replace(" County", "")
            for i in range(sc.enterprises_per_county):
                industry = INDUSTRY_MIX[(len(rows) + i) % len(INDUSTRY_MIX)]
                n = i + 1
                rows.append(dict(
                    org_id=f"E{county_code}-{n:02d}", parent_id=county_id, level="enterprise", kind="enterprise",
                    name_zh=f"{short_zh}{_INDUSTRY_ZH[industry]}{n}号有限公司",
                    name_en=f"{short_en} {_INDUSTRY_EN[industry]} No.{n} Co., Ltd.",
                    region_code=county_code, industry=industry, area_ha=None,
                    **_located(next(places)),
                ))
            for i in range(sc.sites_per_county):
                kind = _SITE_KINDS[(len(rows) + i) % len(_SITE_KINDS)]
                n = i + 1
                area = {"forest": rng.uniform(800, 6000), "wetland": rng.uniform(300, 2000), "urban_green": rng.uniform(50, 400)}[kind]
                rows.append(dict(
                    org_id=f"S{county_code}-{n:02d}", parent_id=county_id, level="site", kind=kind,
                    name_zh=f"{short_zh}{_SITE_ZH[kind]}{n}号", name_en=f"{short_en} {_SITE_EN[kind]} No.{n}",
                    region_code=county_code, industry=None, area_ha=round(area, 1),
                    **_located(next(places)),
                ))
    return pd.DataFrame(rows)


def _located(point: np.ndarray) -> dict[str, float]:
    """latitude/longitude columns of a (longitude, latitude) point."""
    return {"latitude": float(point[1]), "longitude": float(point[0])}


#: Fictitious but plausible makers of the demo's meters (none is endorsed).
METER_VENDORS = {"electricity_meter": "Holley Metering", "heat_meter": "Kamstrup", "gas_meter": "Goldcard",
                 "fuel_meter": "Sincerity", "production_meter": "Mettler Toledo"}


def build_devices(orgs: pd.DataFrame, sc: Scale) -> pd.DataFrame:
    """Meters for every enterprise, flux towers on the first ``sc.towers`` forest/wetland sites."""
    start = date(sc.years[0] - 1, 11, 1)
    rows = []
    for org in orgs[orgs.level == "enterprise"].itertuples():
        for metric, kind in INDUSTRY_METERS[org.industry]:
            rows.append(dict(device_id=f"M-{org.org_id}-{metric}", org_id=org.org_id, kind=kind,
                             model={"electricity_meter": "DTSD1352", "heat_meter": "HM-Ultra 3", "gas_meter": "TBQM-100",
                                    "fuel_meter": "LWGY-50", "production_meter": "WB-120T"}[kind],
                             serial_no=f"SN{len(rows) + 100001}",
                             interval_s=sc.meter_interval_s, installed_on=start, metric=metric,
                             vendor=METER_VENDORS[kind], latitude=org.latitude, longitude=org.longitude,
                             calibration_due=date(start.year + 1, 3, 31)))
    sites = orgs[(orgs.level == "site") & orgs.kind.isin(["forest", "wetland"])].head(sc.towers)
    for org in sites.itertuples():
        rows.append(dict(device_id=f"T-{org.org_id}", org_id=org.org_id, kind="flux_tower", model="IRGASON-EC100",
                         serial_no=f"SN{len(rows) + 100001}", interval_s=1800, installed_on=start, metric=None,
                         vendor="Campbell Scientific", latitude=org.latitude, longitude=org.longitude,
                         calibration_due=date(start.year + 1, 3, 31)))
    return pd.DataFrame(rows)


def org_history(orgs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The demo's master-data history (table ``org_change``): the first forest farm was registered as the
    county's state forest farm and took its present name on 2021-01-01.  Returns the org rows as registered
    (that farm under its old name) and the rename; every year with data shows the present name."""
    farm = orgs[orgs.kind == "forest"].org_id.iloc[0]
    present = orgs.set_index("org_id").loc[farm]
    county = orgs.set_index("org_id").loc[present.parent_id]
    registered = orgs.copy()
    registered.loc[registered.org_id == farm, ["name_zh", "name_en"]] = (f"{county.name_zh}国营林场",
                                                                         f"{county.name_en} State Forest Farm")
    rename = pd.DataFrame([dict(change_id=f"OC-{farm}-20210101-demo", org_id=farm, change="rename",
                                effective_from=date(2021, 1, 1), name_zh=present.name_zh, name_en=present.name_en,
                                parent_id=None, reason="renamed on its reform into a state-owned forest farm company",
                                changed_by="demo", recorded_at=datetime(2021, 1, 4, 1))])
    return registered, rename
