"""Business ledgers of the demo province: activity ledger, inventory, caps, credits, prices.

The activity ledger is derived from the same true energy flows as the meters (before
meter faults), the way an enterprise's data officer enters invoice and weighbridge
totals each month.  A few entries are corrected by reversal, as clause 5.1 requires.
"""

from __future__ import annotations

import math

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from .. import emissions, factors
from ..units import M_PER_DEG_LAT, M_PER_DEG_LON
from ..ledger.workflow import review_id

#: metric -> (category, activity type, ledger unit, factor from metric unit to ledger unit)
LEDGER_MAP = {
    "coal": ("stationary_combustion", "bituminous_coal", "t", 1.0),
    "natural_gas": ("stationary_combustion", "natural_gas", "10^4 Nm3", 1e-4),
    "diesel": ("mobile_combustion", "diesel", "t", 0.835e-3),  # density of diesel 0.835 kg/L (GB 19147 range 0.81-0.85)
    "electricity_import": ("purchased_electricity", "grid", "MWh", 1e-3),
    "electricity_export": ("exported_electricity", "grid", "MWh", 1e-3),
    "heat_supply": ("purchased_heat", "steam", "GJ", 1.0),
    "clinker": ("process", "clinker", "t", 1.0),
}
#: Annual entries not metered: industry -> (category, activity type, unit, amount per size unit)
ANNUAL_ENTRIES = {
    "power": ("fugitive", "SF6", "kg", 12.0),
    "park": ("fugitive", "HFC-134a", "kg", 85.0),
    "paper": ("biomass_combustion", "black_liquor", "t", 52000.0),
}
CLINKER_PROCESS_FACTOR = 0.525  # tCO2/t clinker, calcination (CSI Cement CO2 Protocol default; WBCSD 2011)


def activity_ledger(totals: pd.DataFrame, orgs: pd.DataFrame, sizes: dict[str, float], years: tuple[int, ...]) -> pd.DataFrame:
    """Monthly ledger entries from true monthly totals (columns org_id, metric, month, amount)."""
    rows = []
    last_month = pd.Timestamp(year=years[-1], month=12, day=1)
    for t in totals.itertuples():
        if t.metric not in LEDGER_MAP:
            continue
        category, activity_type, unit, k = LEDGER_MAP[t.metric]
        month = pd.Timestamp(t.month)
        under_review = int(t.org_id[-2:]) % 3 == 0  # every third enterprise's last month awaits approval
        end = (month + pd.offsets.MonthEnd(0)).date()
        entry = f"A-{t.org_id}-{month:%Y%m}-{category}-{activity_type}"
        rows.append(dict(
            entry_id=entry, org_id=t.org_id, period_start=month.date(), period_end=end, category=category,
            activity_type=activity_type, amount=round(t.amount * k, 3), unit=unit,
            evidence_ref=f"{'INV' if category != 'process' else 'WB'}-{t.org_id[1:]}-{month:%Y%m}-{activity_type[:4].upper()}",
            author=f"officer-{t.org_id.lower()}", status="submitted" if month == last_month and under_review else "approved",
            entered_at=datetime.combine(end + timedelta(days=5), datetime.min.time()) + timedelta(hours=2),
            reverses_entry_id=None,
        ))
    ledger = pd.DataFrame(rows)
    corrections = []
    for org in sorted(ledger.org_id.unique())[::5]:  # every fifth enterprise corrected one electricity entry
        target = ledger[(ledger.org_id == org) & (ledger.category == "purchased_electricity")].head(3).tail(1)
        for e in target.itertuples():
            wrong = e._asdict() | dict(amount=round(e.amount * 1.1, 3), entry_id=e.entry_id)
            reversal = wrong | dict(entry_id=e.entry_id + "-R", amount=-wrong["amount"], reverses_entry_id=e.entry_id,
                                    entered_at=e.entered_at + timedelta(days=20), evidence_ref=e.evidence_ref + "-COR")
            fixed = e._asdict() | dict(entry_id=e.entry_id + "-C", entered_at=e.entered_at + timedelta(days=20),
                                       evidence_ref=e.evidence_ref + "-COR")
            ledger.loc[e.Index, "amount"] = wrong["amount"]
            corrections += [reversal, fixed]
    if corrections:
        ledger = pd.concat([ledger, pd.DataFrame(corrections).drop(columns="Index")], ignore_index=True)
    for org in orgs[orgs.industry.isin(list(ANNUAL_ENTRIES))].itertuples():
        category, activity_type, unit, per_size = ANNUAL_ENTRIES[org.industry]
        for year in years:
            ledger.loc[len(ledger)] = dict(
                entry_id=f"A-{org.org_id}-{year}-{activity_type}", org_id=org.org_id, period_start=date(year, 1, 1),
                period_end=date(year, 12, 31), category=category, activity_type=activity_type,
                amount=round(per_size * sizes[org.org_id], 3), unit=unit, evidence_ref=f"ANNUAL-{org.org_id[1:]}-{year}",
                author=f"officer-{org.org_id.lower()}", status="approved" if year < years[-1] else "submitted",
                entered_at=datetime(year + 1, 1, 20, 2), reverses_entry_id=None,
            )
    return ledger.sort_values("entry_id", ignore_index=True)


#: The demo's reviewers take three days and an hour to approve an entry.
REVIEW_DELAY = timedelta(days=3, hours=1)


def review_steps(ledger: pd.DataFrame, orgs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ledger as entered (every entry a draft) and its review (table ``activity_review``): each entry submitted
    by its author when entered; the ``approved`` ones approved by their county's reviewer; the first of the
    ``submitted`` ones returned with a comment (the officer has not answered yet), the others still awaiting review."""
    county = orgs.set_index("org_id").parent_id
    steps = []

    def step(entry, n: int, event: str, actor: str, at: datetime, comment: str | None = None) -> None:
        steps.append(dict(review_id=review_id(entry.entry_id, n), entry_id=entry.entry_id, event=event, actor=actor,
                          event_time=at, comment=comment, related_entry_id=None))

    waiting = ledger[ledger.status == "submitted"].entry_id
    returned = waiting.iloc[0] if len(waiting) else None
    for entry in ledger.itertuples():
        step(entry, 1, "submitted", entry.author, entry.entered_at)
        reviewer = f"reviewer-{county[entry.org_id].lower()}"
        if entry.status == "approved":
            step(entry, 2, "approved", reviewer, entry.entered_at + REVIEW_DELAY)
        elif entry.entry_id == returned:
            step(entry, 2, "returned", reviewer, entry.entered_at + REVIEW_DELAY,
                 "the invoice total does not match the meter reading: attach the meter photo")
    return ledger.assign(status="draft"), pd.DataFrame(steps)


def estimate_emissions(ledger: pd.DataFrame, year: int) -> pd.Series:
    """Approximate tCO2e per org for ``year`` from the ledger (used to size caps)."""
    y = ledger[pd.to_datetime(ledger.period_start).dt.year == year]
    grid = float(factors.grid_factor(min(year, 2022)))
    out: dict[str, float] = {}
    for e in y.itertuples():
        if e.category in ("stationary_combustion", "mobile_combustion"):
            family = "ipcc_guidelines" if e.activity_type == "bituminous_coal" else "gbt2589"
            value = float(emissions.fuel_combustion(e.amount, e.unit, e.activity_type, family=family))
        elif e.category == "purchased_electricity":
            value = e.amount * grid
        elif e.category == "exported_electricity":
            value = -e.amount * grid
        elif e.category == "purchased_heat":
            value = float(emissions.purchased_heat(e.amount))
        elif e.category == "process":
            value = e.amount * CLINKER_PROCESS_FACTOR
        else:
            continue
        out[e.org_id] = out.get(e.org_id, 0.0) + value
    return pd.Series(out)


def caps(ledger: pd.DataFrame, orgs: pd.DataFrame, years: tuple[int, ...], rng: np.random.Generator) -> pd.DataFrame:
    """Caps for the covered sectors (power, cement, paper): 90-106 % of the year's emissions."""
    covered = orgs[orgs.industry.isin(["power", "cement", "paper"])].org_id
    rows = []
    for year in years:
        estimate = estimate_emissions(ledger, year)
        for org in covered:
            if org in estimate and estimate[org] > 0:
                rows.append(dict(org_id=org, year=year, cap_tco2e=round(estimate[org] * rng.uniform(0.9, 1.06), 0),
                                 source=f"Hunan DEE {year} allowance allocation notice (demo)"))
    return pd.DataFrame(rows)


_SPECIES_BY_KIND = {
    "forest": ("chinese_fir", "masson_pine", "hard_broadleaf", "oak"),
    "urban_green": ("soft_broadleaf", "hard_broadleaf"),
    "wetland": ("poplar",),
}
_DMAX_CM = {"chinese_fir": 32, "masson_pine": 36, "hard_broadleaf": 40, "oak": 42, "soft_broadleaf": 45, "poplar": 48}


def _volume_m3(dbh_cm: np.ndarray, height_m: np.ndarray) -> np.ndarray:
    """Two-variable stem volume equation V = a D^b H^c (form of LY/T 2261 tables; demo coefficients)."""
    return 0.0000587 * dbh_cm**1.96 * height_m**0.89


def stand_boundaries(stands: pd.DataFrame, orgs: pd.DataFrame) -> list[str]:
    """A WKT square of each stand's area, the stands of a site side by side eastwards from the site's location
    with a 20 m gap (deterministic: no random draw, so the rest of the demo stays as it was)."""
    location = orgs.set_index("org_id")[["latitude", "longitude"]]
    out, east = [], {}
    for stand in stands.itertuples():
        lat, lon = location.loc[stand.org_id]
        side = math.sqrt(stand.area_ha * 10_000.0)
        x0 = east.get(stand.org_id, 0.0)
        east[stand.org_id] = x0 + side + 20.0
        dlon = M_PER_DEG_LON * math.cos(math.radians(lat))
        w, e = lon + x0 / dlon, lon + (x0 + side) / dlon
        s, n = lat, lat + side / M_PER_DEG_LAT
        out.append(f"POLYGON(({w:.7f} {s:.7f}, {e:.7f} {s:.7f}, {e:.7f} {n:.7f}, {w:.7f} {n:.7f}, {w:.7f} {s:.7f}))")
    return out


def inventory(orgs: pd.DataFrame, years: tuple[int, ...], rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Stands (mapped: :func:`stand_boundaries`), plots (two survey dates, five years apart) and measured trees."""
    stands, plots, trees = [], [], []
    t2_year = years[-1]
    t1_year = t2_year - 5
    for site in orgs[orgs.level == "site"].itertuples():
        n_stands = int(np.clip(site.area_ha // 250, 3, 10))
        areas = rng.dirichlet(np.ones(n_stands)) * site.area_ha * 0.9
        for s in range(n_stands):
            species = _SPECIES_BY_KIND[site.kind][s % len(_SPECIES_BY_KIND[site.kind])]
            established = int(rng.integers(1985, t1_year - 3))
            stand_id = f"{site.org_id}-ST{s + 1:02d}"
            stands.append(dict(stand_id=stand_id, org_id=site.org_id, species_group=species, area_ha=round(areas[s], 2),
                               origin="planted" if species in ("chinese_fir", "masson_pine", "poplar") else "natural",
                               established_year=established))
            harvested = s == 1 and site.kind == "forest"
            density = rng.uniform(900, 1800)  # stems per ha
            for p in range(int(rng.integers(2, 5))):
                plot_id = f"{stand_id}-P{p + 1}"
                n_trees = max(8, int(density * 0.0667 * rng.uniform(0.8, 1.2)))
                dmax = _DMAX_CM[species]
                age1 = t1_year - established
                mean1 = dmax * (1 - np.exp(-0.06 * age1)) ** 1.3
                mean2 = dmax * (1 - np.exp(-0.06 * (age1 + 5))) ** 1.3
                dbh1 = np.clip(mean1 * rng.lognormal(0, 0.22, n_trees), 5, 150)
                dbh2 = dbh1 + (mean2 - mean1) * (dbh1 / mean1) ** 0.5 * rng.lognormal(0, 0.25, n_trees)
                alive2 = rng.random(n_trees) > (0.35 if harvested else 0.06)
                for year, dbh, alive, month in ((t1_year, dbh1, np.ones(n_trees, bool), 10), (t2_year, dbh2, alive2, 10)):
                    survey_date = date(year, month, 10 + s % 15)
                    plots.append(dict(plot_id=plot_id, stand_id=stand_id, survey_date=survey_date, plot_area_ha=0.0667,
                                      surveyor=f"{site.region_code} forestry survey team {1 + p % 3}"))
                    height = 1.3 + 0.9 * dmax * (1 - np.exp(-0.045 * dbh)) ** 1.1 * rng.lognormal(0, 0.05, n_trees)
                    volume = _volume_m3(dbh, height)
                    for i in np.flatnonzero(alive):
                        trees.append(dict(plot_id=plot_id, survey_date=survey_date, tree_no=int(i + 1), species_group=species,
                                          dbh_cm=round(float(dbh[i]), 1), height_m=round(float(height[i]), 1),
                                          volume_m3=round(float(volume[i]), 4)))
    stands = pd.DataFrame(stands)
    stands["boundary_wkt"] = stand_boundaries(stands, orgs)
    return stands, pd.DataFrame(plots), pd.DataFrame(trees)


def credit_registry(orgs: pd.DataFrame, years: tuple[int, ...], rng: np.random.Generator
                    ) -> tuple[pd.DataFrame, pd.DataFrame, list[tuple[datetime, str, dict]]]:
    """A few CCER-style projects at forest sites, their lifecycle (a monitoring report and its verification
    per vintage) and the registry operations that follow: (UTC time, method of
    :class:`carbonlib.registry.book.Registry` or ``transfer`` for a request and its acceptance, keyword
    arguments), in time order."""
    sites = orgs[(orgs.level == "site") & (orgs.kind == "forest")].head(3)
    buyers = orgs[orgs.industry.isin(["cement", "power"])].org_id.tolist()
    kinds = [("afforestation", "CCER-14-001-V01", "碳汇造林项目", "Afforestation"),
             ("forest_management", "CCER-14-002-V01", "森林经营碳汇项目", "Forest management"),
             ("afforestation", "CCER-14-001-V01", "碳汇造林项目", "Afforestation")]
    projects, project_events, operations = [], [], []
    first = years[0] - 2
    for i, site in enumerate(sites.itertuples()):
        kind, method, zh, en = kinds[i % len(kinds)]
        pid = f"PRJ-{site.org_id[1:]}"
        annual = round(site.area_ha * rng.uniform(3.0, 6.0), 0)
        status = "verified" if i < 2 else "registered"
        projects.append(dict(project_id=pid, org_id=site.org_id, name_zh=f"{site.name_zh}{zh}", name_en=f"{site.name_en} {en} project",
                             project_type=kind, methodology=method, status=status, crediting_start=date(first, 1, 1),
                             crediting_end=date(first + 19, 12, 31), estimated_annual_tco2e=annual))
        for k, step in enumerate(["initiated", "validated", "registered"]):
            project_events.append(dict(event_id=f"{pid}-E{k + 1}", project_id=pid, event_type=step,
                                       event_date=date(first, 3, 1) + timedelta(days=120 * k), actor="validation body VB-07" if k else site.org_id,
                                       note=None if k != 1 else "monitoring plan checked: plots, flux tower, data traceability"))
        if status != "verified":
            continue
        for vintage in years:
            project_events.append(dict(event_id=f"{pid}-M{vintage}", project_id=pid, event_type="monitoring_report",
                                       event_date=date(vintage + 1, 2, 1), actor=site.org_id,
                                       note=f"removals of {vintage} by inventory, flux tower cross-check"))
            project_events.append(dict(event_id=f"{pid}-V{vintage}", project_id=pid, event_type="verified",
                                       event_date=date(vintage + 1, 3, 15), actor="verification body VB-07", note=None))
            quantity = int(annual * rng.uniform(0.8, 1.0))
            held = quantity - int(np.floor(quantity * 0.2 + 0.5))
            buyer = buyers[(i + vintage) % len(buyers)] if buyers else site.org_id
            sold = held // 2
            issued = datetime(vintage + 1, 4, 15, 2)
            operations += [(issued, "open_accounts", dict(org_id=site.org_id)),
                           (issued, "issue", dict(project_id=pid, vintage=vintage, quantity=quantity,
                                                  proponent=site.org_id, verification_ref=f"{pid}-V{vintage}")),
                           (issued, "open_accounts", dict(org_id=buyer)),
                           (datetime(vintage + 1, 6, 1, 2), "transfer",
                            dict(from_org=site.org_id, to_org=buyer, project_id=pid, vintage=vintage, quantity=sold,
                                 price_cny=float(round(rng.uniform(40, 90), 2)))),
                           (datetime(vintage + 1, 9, 30, 2), "retire",
                            dict(org_id=buyer, project_id=pid, vintage=vintage, quantity=sold // 2, beneficiary=buyer,
                                 purpose="compliance", cap_year=vintage))]
    operations.sort(key=lambda operation: operation[0])  # stable: the order within one moment stays
    return pd.DataFrame(projects), pd.DataFrame(project_events), operations


def carbon_prices(years: tuple[int, ...], rng: np.random.Generator) -> pd.DataFrame:
    """Daily closes for the national allowance (CEA) and CCER markets, trading days only.

    Mean-reverting log price towards a yearly anchor near the observed level of the CEA
    market (about 55-100 CNY/t in 2023-2025); CCER trades from its restart (2024-01-22).
    """
    anchors = {2022: 57.0, 2023: 68.0, 2024: 95.0, 2025: 72.0}
    days = pd.bdate_range(date(years[0] - 1, 1, 1), date(years[-1], 12, 31))
    rows = []
    for market, discount, start in (("CEA", 1.0, days[0]), ("CCER", 0.85, pd.Timestamp("2024-01-22"))):
        log_p = np.log(anchors.get(days[0].year, 70.0) * discount)
        for day in days:
            target = np.log(anchors.get(day.year, 70.0) * discount)
            log_p += 0.02 * (target - log_p) + rng.normal(0, 0.018)
            if day >= start:
                rows.append(dict(market=market, day=day.date(), close_cny=round(float(np.exp(log_p)), 2),
                                 volume_t=round(float(rng.lognormal(11.5 if market == "CEA" else 9.5, 0.8)), 0)))
    return pd.DataFrame(rows)


def device_events(devices: pd.DataFrame, years: tuple[int, ...], rng: np.random.Generator) -> pd.DataFrame:
    """Installation, yearly calibration, and a few repairs and replacements (clause 8.2)."""
    rows = []
    for d in devices.itertuples():
        rows.append(dict(event_id=f"{d.device_id}-inst", device_id=d.device_id, event_type="installed",
                         event_time=datetime.combine(d.installed_on, datetime.min.time()) + timedelta(hours=2),
                         actor="installer ZX-Metering", note=None))
        for year in years:
            rows.append(dict(event_id=f"{d.device_id}-cal{year}", device_id=d.device_id, event_type="calibrated",
                             event_time=datetime(year, 3, 1 + int(rng.integers(0, 27)), 1), actor="metrology institute",
                             note="annual verification (JJG)", calibration_due=date(year + 1, 3, 31)))
        if rng.random() < 0.08:
            year = years[-1]
            rows.append(dict(event_id=f"{d.device_id}-rep{year}", device_id=d.device_id, event_type="repaired",
                             event_time=datetime(year, int(rng.integers(4, 12)), 12, 3), actor="maintenance team",
                             note="communication module replaced after outage"))
    towers = devices[devices.kind == "flux_tower"]
    for d in towers.head(1).itertuples():
        rows.append(dict(event_id=f"{d.device_id}-repl-ta", device_id=d.device_id, event_type="replaced",
                         event_time=datetime(years[-1], 8, 20, 2), actor="site technician",
                         note="gas analyser drifting after a lightning strike; replaced", serial_no=f"{d.serial_no}-R1",
                         model=d.model, calibration_due=date(years[-1] + 1, 8, 31)))
    return pd.DataFrame(rows)
