"""A credit project's monitoring report for one vintage, drafted from the lake (clause 5.3).

What the report states for the project's site (its proponent org) and the vintage year:

* **Removals by inventory**: per stand of the project area (table ``project_stand``), the stock difference
  between its two plot surveys, as the accounts compute it (:func:`carbonlib.accounting.accounts.site_removal_rates`: stand volume from the
  mean plot volume per ha, IPCC 2006 Vol.4 Eq 2.8 with the species parameters, C to CO2 by 44/12),
  for the stands whose surveys bracket the vintage (first survey year < vintage <= last survey year).
* **Sampling uncertainty** (95 %): permanent plots are measured twice, so the change is estimated from
  the paired plot differences d = m3/ha(t2) - m3/ha(t1); the stand's volume change has the standard
  error area x sd(d)/sqrt(n), widened by Student's t with n - 1 degrees of freedom; stands are
  independent samples and add in quadrature (IPCC 2006 Vol.1 Ch.3 Eq 3.1).  Species parameter
  uncertainty is not part of this figure (it is the same for every vintage and stated in the
  species table's sources).
* **Removals by sinks** (clause 3.2): stock change - emissions inside the boundary (the site's own
  emissions in the accounts), :func:`carbonlib.sinks.removals_by_sinks`.
* **Flux cross-check**: the site's tower removals of the same year in the accounts, as a ratio, and the
  tower-year's GPP and Reco by night-time and daytime partitioning
  (:func:`carbonlib.accounting.tower_sinks.partitioning`).
* **QA flags**: each check with ok / warn / info and what it found (:data:`CHECKS`); the removals match the
  site's accounts when the project claims all the site's stands (else the check is only informative).
* **Proposed quantity**: whole credits; the lower 95 % bound when the sampling precision misses
  :data:`PRECISION_TARGET` (conservative), the buffer share the registry will withhold by default.

:func:`draft` runs ``notebooks/registry/monitoring_report.ipynb`` with papermill, writes the HTML
and the figures (CSV, hashed), and records the project's ``monitoring_report`` step with the
figures as its document.
"""

from __future__ import annotations

import hashlib
import math
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from .. import sinks, uncertainty
from ..accounting import accounts, tower_sinks
from ..lake import Lake
from ..paths import check_identifier
from ..security import Principal, Security
from ..settings import Settings
from . import projects
from .book import DEFAULT_BUFFER_SHARE, RegistryRefused

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "registry" / "monitoring_report.ipynb"
#: Relative 95 % sampling precision below which the central estimate is proposed (the CDM A/R sampling
#: tools aim at +/-10 %; above it the lower bound is proposed).
PRECISION_TARGET = 0.10
#: Fewest permanent plots per stand for a sampling error (with fewer the stand is flagged).
MIN_PLOTS = 3
#: Flux-to-inventory ratio outside this range is flagged (a tower footprint is not the stands: a
#: plausibility check of order of magnitude, not an equality).
FLUX_RATIO_RANGE = (0.5, 2.0)
#: The QA checks, in report order.
CHECKS = ("inventory_covers_vintage", "plots_per_stand", "sampling_precision", "matches_accounts",
          "flux_cross_check")


@dataclass
class MonitoringData:
    """Everything a monitoring report shows (see module doc); tCO2e unless named otherwise."""

    project: dict
    vintage: int
    snapshot: int
    stands: pd.DataFrame
    removals_tco2e: float
    u95_tco2e: float
    emissions_in_boundary_tco2e: float
    removals_by_sinks_tco2e: float
    account_removals_tco2e: float | None
    flux_removals_tco2e: float | None
    flags: pd.DataFrame
    species: pd.DataFrame
    proposed_credits: int
    buffer_credits: int
    partitioning: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def relative_u95(self) -> float:
        return self.u95_tco2e / abs(self.removals_tco2e) if self.removals_tco2e else float("nan")

    def figures(self) -> pd.DataFrame:
        """The report's figures as one table (item, value, unit): what ``figures.csv`` holds and is hashed."""
        rows = [("removals_inventory", self.removals_tco2e, "tCO2e"), ("sampling_u95", self.u95_tco2e, "tCO2e"),
                ("emissions_in_boundary", self.emissions_in_boundary_tco2e, "tCO2e"),
                ("removals_by_sinks", self.removals_by_sinks_tco2e, "tCO2e"),
                ("removals_flux", self.flux_removals_tco2e, "tCO2e"),
                ("proposed_credits", float(self.proposed_credits), "credits"),
                ("buffer_credits", float(self.buffer_credits), "credits")]
        frame = pd.DataFrame(rows, columns=["item", "value", "unit"])
        frame.insert(0, "vintage", self.vintage)
        frame.insert(0, "project_id", self.project["project_id"])
        frame["snapshot_id"] = self.snapshot
        return frame


def _plot_volumes(lake: Lake, stand_ids: list[str], snapshot: int) -> pd.DataFrame:
    """Volume per ha (m3/ha) of every plot of the stands at every survey."""
    return lake.query(
        f"SELECT p.stand_id, p.plot_id, p.survey_date, "
        f"sum(t.volume_m3 ORDER BY t.tree_no) / any_value(p.plot_area_ha) AS m3_per_ha "
        f"FROM {lake.relation('survey_plot', snapshot)} AS p JOIN {lake.relation('survey_tree', snapshot)} AS t "
        f"USING (plot_id, survey_date) WHERE list_contains($stands, p.stand_id) "
        f"GROUP BY p.plot_id, p.stand_id, p.survey_date ORDER BY p.stand_id, p.survey_date, p.plot_id",
        {"stands": stand_ids})


def stand_removals(stand: pd.Series, plots: pd.DataFrame, species: pd.Series) -> dict:
    """One stand's removal rate (tCO2e/yr) between its first and last survey and the rate's 95 % sampling
    uncertainty (tCO2e/yr) from the paired plot differences (see module doc); NaN when fewer than two plots
    were measured at both surveys."""
    by_survey = plots.pivot_table(index="plot_id", columns="survey_date", values="m3_per_ha")
    first, last = by_survey.columns.min(), by_survey.columns.max()
    paired = by_survey[[first, last]].dropna() if first != last else by_survey.iloc[:0]
    volume = plots.groupby("survey_date").m3_per_ha.mean() * float(stand.area_ha)
    change_m3 = float(volume[last] - volume[first])
    years = (pd.Timestamp(last) - pd.Timestamp(first)).days / 365.25
    per_m3 = float(sinks.to_co2(sinks.carbon_stock(
        sinks.biomass_from_volume(1.0, species.wood_density, species.bef, species.root_shoot), species.carbon_fraction)))
    rate = change_m3 * per_m3 / years if years > 0 else float("nan")
    n = len(paired)
    u95_m3_per_ha = uncertainty.paired_difference_u95(paired[last] - paired[first]) if years > 0 else float("nan")
    u95 = u95_m3_per_ha * float(stand.area_ha) * per_m3 / years if years > 0 else float("nan")
    return dict(stand_id=stand.stand_id, species_group=stand.species_group, area_ha=float(stand.area_ha),
                first_survey=pd.Timestamp(first).date(), last_survey=pd.Timestamp(last).date(), plots=n,
                removals_tco2e=rate, u95_tco2e=u95)


def _flag(check: str, ok: bool | None, facts: dict) -> dict:
    """A QA check's row: its status and what it found, in English (``found``, exported) and as the facts the
    report phrases in its language (``report_found_<check>`` of :mod:`carbonlib.i18n`)."""
    return dict(check=check, status="info" if ok is None else ("ok" if ok else "warn"),
                found=found_text(check, facts, "en"), facts=facts)


def found_text(check: str, facts: dict, lang: str) -> str:
    """What the check ``check`` found, phrased in ``lang``."""
    from ..i18n import message

    return message(f"report_found_{check}" + ("" if facts or check != "flux_cross_check" else "_none"), lang, **facts)


def collect(lake: Lake, project_id: str, vintage: int, snapshot: int | None = None) -> MonitoringData:
    """The monitoring report's content for ``project_id`` and ``vintage`` at lake ``snapshot`` (default latest)."""
    from ..reporting.reports import pinned

    snap = pinned(lake, snapshot)
    found = lake.read("credit_project", where="project_id = ?", params=[project_id], snapshot=snap)
    if found.empty:
        raise RegistryRefused(f"project_id: no project {project_id!r} in table credit_project")
    project = found.iloc[0].to_dict()
    start, end = pd.Timestamp(project["crediting_start"]).year, pd.Timestamp(project["crediting_end"]).year
    if not start <= vintage <= end:
        raise RegistryRefused(f"vintage: {vintage} is outside {project_id}'s crediting period {start}-{end}")
    tree = accounts.year_tree(lake, int(vintage), snap)  # the site as it was in the vintage (its name then)
    org = tree[tree.org_id == project["org_id"]]
    if org.empty:
        raise RegistryRefused(f"vintage: {project_id}'s site {project['org_id']} did not exist in {vintage} (closed "
                              "before it or opened after it: `carbon orgs history`)")
    project.update(org_name_zh=org.name_zh.iloc[0], org_name_en=org.name_en.iloc[0])
    site = project["org_id"]
    stands = lake.query(  # the project area: the stands the project claims (table project_stand)
        f"SELECT s.* FROM {lake.relation('forest_stand', snap)} AS s "
        f"JOIN {lake.relation('project_stand', snap)} AS c USING (stand_id) WHERE c.project_id = $project "
        f"ORDER BY s.stand_id", {"project": project_id})
    site_stands = int(lake.query(f"SELECT count(*) AS n FROM {lake.relation('forest_stand', snap)} WHERE org_id = $site",
                                 {"site": site}).n[0])
    species = lake.read("species_parameter", snapshot=snap).set_index("species_group")
    plots = _plot_volumes(lake, list(stands.stand_id), snap)
    rows = [stand_removals(stand, plots[plots.stand_id == stand.stand_id], species.loc[stand.species_group])
            for stand in stands.itertuples(index=False) if (plots.stand_id == stand.stand_id).any()]
    table = pd.DataFrame(rows, columns=["stand_id", "species_group", "area_ha", "first_survey", "last_survey", "plots",
                                        "removals_tco2e", "u95_tco2e"])
    covers = table.apply(lambda r: r.first_survey.year < vintage <= r.last_survey.year, axis=1) if len(table) else []
    table["covers_vintage"] = np.asarray(covers, dtype=bool)
    counted = table[table.covers_vintage]
    removals = float(counted.removals_tco2e.sum())
    u95 = float(np.sqrt((counted.u95_tco2e ** 2).sum()))
    figures = accounts.account_figures(lake, site, str(vintage), snapshot=snap).set_index("item").value
    emissions = float(figures.get("emissions_total", 0.0))
    by_sinks = float(sinks.removals_by_sinks(removals, emissions))
    account = float(figures["removals_inventory"]) if "removals_inventory" in figures else None
    flux = float(figures["removals_flux"]) if "removals_flux" in figures else None

    relative = u95 / abs(removals) if removals else float("nan")
    precise = bool(relative <= PRECISION_TARGET) if not (math.isnan(relative) or counted.u95_tco2e.isna().any()) else False
    few = table[table.plots < MIN_PLOTS].stand_id.tolist()
    ratio = flux / removals if flux is not None and removals else None
    flags = [
        _flag("inventory_covers_vintage", len(counted) == len(table) and len(table) > 0,
              dict(counted=len(counted), total=len(table), vintage=vintage)),
        _flag("plots_per_stand", not few and len(table) > 0, dict(minimum=MIN_PLOTS, stands=", ".join(few) or "-")),
        _flag("sampling_precision", precise, dict(relative=relative, target=PRECISION_TARGET)),
        _flag("matches_accounts", account is not None and math.isclose(account, removals, rel_tol=1e-6, abs_tol=0.01),
              dict(account="-" if account is None else f"{account:,.1f}", report=f"{removals:,.1f}"))
        if len(stands) == site_stands else
        _flag("matches_accounts", None, dict(account="-" if account is None else f"{account:,.1f}",
                                             report=f"{removals:,.1f} ({len(stands)}/{site_stands})")),
        _flag("flux_cross_check", None if ratio is None else FLUX_RATIO_RANGE[0] <= ratio <= FLUX_RATIO_RANGE[1],
              dict(flux=f"{flux:,.1f}", ratio=ratio) if ratio is not None else {}),
    ]
    claimable = by_sinks if precise else by_sinks - u95
    proposed = max(0, int(math.floor(claimable))) if not math.isnan(claimable) else 0
    buffer = int(math.floor(proposed * DEFAULT_BUFFER_SHARE + 0.5))
    return MonitoringData(project=project, vintage=vintage, snapshot=snap, stands=table, removals_tco2e=removals,
                          u95_tco2e=u95, emissions_in_boundary_tco2e=emissions, removals_by_sinks_tco2e=by_sinks,
                          account_removals_tco2e=account, flux_removals_tco2e=flux, flags=pd.DataFrame(flags),
                          species=species[["name_zh", "latin_name"]],
                          proposed_credits=proposed, buffer_credits=buffer,
                          partitioning=tower_sinks.partitioning(lake, vintage, snapshot=snap, orgs=[site]))


@dataclass(frozen=True)
class Drafted:
    """A drafted report: its folder, files, the figures' SHA-256, the recorded lifecycle step and seconds taken."""

    folder: Path
    html: Path
    figures: Path
    figures_sha256: str
    step: pd.Series
    seconds: float


def draft(security: Security, principal: Principal, settings: Settings, project_id: str, vintage: int, *,
          out: str | Path, body: str, on: date, lang: str = "zh", snapshot: int | None = None) -> Drafted:
    """Run the monitoring report notebook for ``project_id``/``vintage`` into ``out/<project>/<vintage>/``
    (report.ipynb, report.html, figures.csv) and record the ``monitoring_report`` step done by ``body`` on
    ``on``, with ``figures.csv`` as its document (stored by SHA-256).  The principal must be a registry
    operator of the project's subtree (checked before the notebook runs); a step out of order is refused
    before the notebook runs too."""
    import papermill as pm

    from ..accounting import views
    from ..reporting.reports import KERNEL, export_html, kernel_config, kernels_read

    check_identifier(project_id, "project_id")
    with Lake.open(settings, read_only=True) as lake:
        found = lake.read("credit_project", columns=["org_id"], where="project_id = ?", params=[project_id])
        if found.empty:
            raise RegistryRefused(f"project_id: no project {project_id!r} in table credit_project")
        security.require(principal, projects.ACTION, str(found.org_id.iloc[0]), paths=views.org_paths(lake),
                         object=f"project {project_id}")
        last = projects.status(lake, project_id)
    if "monitoring_report" not in projects.NEXT_STEPS.get(last, ()):
        raise RegistryRefused(f"step: {project_id} is {last or 'new'}; a monitoring report cannot follow it "
                              f"(possible now: {', '.join(projects.NEXT_STEPS.get(last, ())) or 'none'})")
    folder = Path(out).resolve() / project_id / str(vintage)
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with kernels_read(settings), tempfile.TemporaryDirectory(prefix="carbon-kernels-") as sockets:
        pm.execute_notebook(NOTEBOOK, folder / "report.ipynb", kernel_name=KERNEL, progress_bar=False,
                            config=kernel_config(sockets, "monitoring"), request_save_on_cell_execute=False,
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}},
                            parameters=dict(project_id=project_id, vintage=int(vintage), lake=str(Path(settings.lake).resolve()),
                                            snapshot=snapshot, lang=lang, export_dir=str(folder),
                                            prepared_by=principal.display_name or principal.username))
    html = export_html(folder / "report.ipynb", folder / "report.html")
    figures = folder / "figures.csv"
    content = figures.read_bytes()
    digest = hashlib.sha256(content).hexdigest()
    step = projects.record_step(security, principal, settings, project_id, "monitoring_report", body=body, on=on,
                                vintage=int(vintage), note=f"drafted from the lake; report.html sha256:"
                                f"{hashlib.sha256(html.read_bytes()).hexdigest()[:16]}",
                                document=(f"{project_id}-{vintage}-monitoring.csv", content))
    return Drafted(folder, html, figures, digest, step, time.perf_counter() - started)


# ------------------------------------------------------------------------------ how the report shows it
def cover(data: MonitoringData, lang: str, *, prepared_by: str | None) -> str:
    """Markdown opening of the report: title, project and vintage, proponent, methodology, crediting period,
    then the common report facts (issue date, preparer, reviewer, snapshot, method, checksum of the figures)."""
    from ..markup import md_text
    from ..reporting import reports

    p = data.project
    name = p["name_zh"] if lang == "zh" else p["name_en"]
    common = reports.cover("monitoring", name, p["project_id"], str(data.vintage), data.snapshot, lang,
                           prepared_by=prepared_by, figures_sha256=reports.figures_sha256(data.figures()))
    period = f"{pd.Timestamp(p['crediting_start']).date()} – {pd.Timestamp(p['crediting_end']).date()}"
    facts = [("vintage", str(data.vintage)),
             ("proponent", f"{md_text(p['org_name_zh' if lang == 'zh' else 'org_name_en'])} ({md_text(p['org_id'])})"),
             ("methodology", md_text(p["methodology"])), ("crediting_period", period)]
    head, _, rest = common.partition("\n- ")
    return head + "\n" + "\n".join(f"- {reports.text(k, lang)}: {v}" for k, v in facts) + "\n- " + rest


def stands_view(data: MonitoringData, lang: str):
    """The stands table of the report (tCO2e per year, ha)."""
    from ..reporting import reports

    names = data.species.get("name_zh" if lang == "zh" else "latin_name", pd.Series(dtype=object))
    shown = data.stands.assign(
        covers_vintage=data.stands.covers_vintage.map(lambda v: reports.text("check_ok" if v else "check_warn", lang)),
        species_group=data.stands.species_group.map(lambda g: names.get(g) if pd.notna(names.get(g)) else g))
    return reports.report_table(shown, {"stand_id": None, "species_group": None, "area_ha": "ha",
                                        "first_survey": None, "last_survey": None, "plots": "count",
                                        "removals_tco2e": "tCO2e", "u95_tco2e": "tCO2e", "covers_vintage": None}, lang)


def figures_view(data: MonitoringData, lang: str):
    """The headline figures: stock change, its uncertainty, emissions inside the boundary, removals by sinks,
    the tower's figure, and the proposed credits with the buffer share."""
    from ..reporting import reports

    figures = data.figures()
    shown = pd.DataFrame({"item": figures.item.map(lambda i: reports.text(i, lang)),
                          "value": [("—" if pd.isna(v) else f"{v:,.0f}" if u == "credits" else f"{v:,.1f}")
                                    for v, u in zip(figures.value, figures.unit)],
                          "unit": figures.unit.map(lambda u: "tCO2e" if u == "tCO2e" else reports.text("credits_unit", lang))})
    return reports.report_table(shown, {"item": None, "value": None, "unit": None}, lang)


def partitioning_view(data: MonitoringData, lang: str):
    """GPP, Reco and NEE of the site's towers by both partitioning methods (tCO2e over the site area), or a line
    saying the vintage has no complete tower-year."""
    from ..reporting import reports

    if data.partitioning.empty:
        return reports.text("found_flux_cross_check_none", lang)
    shown = data.partitioning.assign(partitioning_method=data.partitioning.method.map(lambda m: reports.text(m, lang)))
    return reports.report_table(shown, {"device_id": None, "partitioning_method": None, "gpp_tco2e": "tCO2e",
                                        "reco_tco2e": "tCO2e", "nee_tco2e": "tCO2e"}, lang)


def flags_view(data: MonitoringData, lang: str):
    """The QA checks with their outcome and what each found."""
    from ..reporting import reports

    shown = data.flags.assign(check=data.flags.check.map(lambda c: reports.text(c, lang)),
                              status=data.flags.status.map(lambda s: reports.text(f"check_{s}", lang)),
                              found=[found_text(c, f, lang) for c, f in zip(data.flags.check, data.flags.facts)])
    return reports.report_table(shown, {"check": None, "status": None, "found": None}, lang)
