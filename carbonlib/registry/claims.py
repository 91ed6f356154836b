"""Double-claim checks of the credit registry (issue 13, clause 5.3): no removal is credited twice, and no
credited removal also counts as the beneficiary's own sink.

:func:`double_claims` finds, each as one row (kind, projects, stands, amount, what to do):

* ``same_stand``: a stand claimed (table ``project_stand``) by two projects whose crediting periods overlap;
* ``overlapping_stands``: mapped stands (``forest_stand.boundary_wkt``) of two such projects that overlap
  by more than :data:`SLIVER_HA` (digitising slivers along a shared edge are not claims); the overlap
  area in ha, computed with ``shapely`` in a local equirectangular projection about the pair's latitude
  (error well below 1 % at the size of forest stands);
* ``unmapped_boundary``: a claimed stand whose boundary is not a valid polygon (the overlap check cannot
  clear it); a stand with no boundary yet is not reported, only counted;
* ``credited_and_own_sink``: a compliance retirement whose beneficiary has the project's site in its own
  subtree: the site's removals already lower the beneficiary's net balance in the accounts, and the
  retirement offsets the same removals against its cap a second time.  Amount: the credits retired, at
  most the site's removals in the accounts of the vintage.

``carbon registry claims`` prints these with the registry's reconciliation per project and vintage
(:meth:`carbonlib.registry.book.Registry.reconcile`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import shapely
from shapely import wkt as shapely_wkt

from ..accounting import accounts, views
from ..lake import Lake
from ..units import M_PER_DEG_LAT, M_PER_DEG_LON

#: Overlap below this (ha) is a digitising sliver along a shared edge, not a claim.
SLIVER_HA = 0.01
COLUMNS = ["kind", "project_id", "other_project_id", "stand_id", "other_stand_id", "amount", "unit", "detail"]


def _periods_overlap(a: pd.Series, b: pd.Series) -> bool:
    return a.crediting_start <= b.crediting_end and b.crediting_start <= a.crediting_end


def area_ha(geometry, latitude: float) -> float:
    """Area (ha) of a lon/lat ``geometry``, projected equirectangularly about ``latitude`` (degrees)."""
    scale_x = M_PER_DEG_LON * math.cos(math.radians(latitude))
    projected = shapely.transform(geometry, lambda xy: xy * np.array([scale_x, M_PER_DEG_LAT]))
    return float(projected.area) / 10_000.0


def _claims(lake: Lake, snapshot: int | None) -> pd.DataFrame:
    return lake.query(
        f"SELECT c.project_id, c.stand_id, s.boundary_wkt, p.crediting_start, p.crediting_end "
        f"FROM {lake.relation('project_stand', snapshot)} AS c "
        f"JOIN {lake.relation('credit_project', snapshot)} AS p USING (project_id) "
        f"JOIN {lake.relation('forest_stand', snapshot)} AS s USING (stand_id) ORDER BY c.project_id, c.stand_id")


def _stand_findings(claims: pd.DataFrame) -> list[dict]:
    found = []
    projects = claims.drop_duplicates("project_id").set_index("project_id")
    for stand_id, group in claims.groupby("stand_id"):
        ids = sorted(group.project_id)
        for i, first in enumerate(ids):
            for second in ids[i + 1:]:
                if _periods_overlap(projects.loc[first], projects.loc[second]):
                    found.append(dict(kind="same_stand", project_id=first, other_project_id=second, stand_id=stand_id,
                                      other_stand_id=stand_id, amount=None, unit=None,
                                      detail=f"stand {stand_id} is claimed by {first} and {second} in overlapping "
                                             "crediting periods: remove it from one project's area (project_stand)"))
    mapped = claims.dropna(subset=["boundary_wkt"]).drop_duplicates(["project_id", "stand_id"]).reset_index(drop=True)
    shapes = []
    for row in mapped.itertuples():
        try:
            shape = shapely_wkt.loads(row.boundary_wkt)
            valid = shape.geom_type in ("Polygon", "MultiPolygon") and shape.is_valid and not shape.is_empty
        except shapely.errors.ShapelyError as error:
            shape, valid, why = None, False, str(error)[:120]
        else:
            why = shapely.is_valid_reason(shape) if shape.geom_type in ("Polygon", "MultiPolygon") else shape.geom_type
        if not valid:
            found.append(dict(kind="unmapped_boundary", project_id=row.project_id, other_project_id=None,
                              stand_id=row.stand_id, other_stand_id=None, amount=None, unit=None,
                              detail=f"stand {row.stand_id}: boundary_wkt is not a valid polygon ({why}); fix the map "
                                     "so the overlap check can clear it"))
        shapes.append(shape if valid else shapely.Polygon())
    tree = shapely.STRtree(shapes)
    left, right = tree.query(shapes, predicate="intersects")
    for i, j in zip(left, right):
        a, b = mapped.iloc[i], mapped.iloc[j]
        if i >= j or a.project_id == b.project_id or a.stand_id == b.stand_id or not _periods_overlap(a, b):
            continue
        overlap = shapes[i].intersection(shapes[j])
        hectares = area_ha(overlap, overlap.centroid.y) if not overlap.is_empty else 0.0
        if hectares > SLIVER_HA:
            found.append(dict(kind="overlapping_stands", project_id=a.project_id, other_project_id=b.project_id,
                              stand_id=a.stand_id, other_stand_id=b.stand_id, amount=hectares, unit="ha",
                              detail=f"stands {a.stand_id} ({a.project_id}) and {b.stand_id} ({b.project_id}) overlap "
                                     f"by {hectares:,.2f} ha: the same land is in two projects; correct the boundaries "
                                     "or take the overlap out of one project"))
    return found


def _own_sink_findings(lake: Lake, snapshot: int | None) -> list[dict]:
    retired = lake.query(
        f"SELECT e.project_id, e.vintage, e.beneficiary, e.cap_year, sum(e.quantity_tco2e) AS quantity, p.org_id AS site "
        f"FROM {lake.relation('credit_event', snapshot)} AS e "
        f"JOIN {lake.relation('credit_project', snapshot)} AS p USING (project_id) "
        "WHERE e.event_type = 'retire' AND e.purpose = 'compliance' GROUP BY ALL ORDER BY ALL")
    if retired.empty:
        return []
    paths = views.org_paths(lake, snapshot)
    found = []
    for row in retired.itertuples():
        site_path = paths.get(row.site, "")
        if row.beneficiary not in paths or row.beneficiary not in site_path.split("/"):
            continue
        figures = accounts.account_figures(lake, row.site, str(int(row.vintage)), snapshot=snapshot)
        removals = figures.loc[figures.item == "removals", "value"].sum()
        if removals <= 0:
            continue
        amount = float(min(row.quantity, removals))
        found.append(dict(kind="credited_and_own_sink", project_id=row.project_id, other_project_id=None,
                          stand_id=None, other_stand_id=None, amount=amount, unit="tCO2e",
                          detail=f"{row.beneficiary} retired {row.quantity:,.0f} credits of {row.project_id} "
                                 f"{int(row.vintage)} against its {int(row.cap_year)} cap, while its own accounts "
                                 f"count {removals:,.0f} tCO2e of removals of the site {row.site} in {int(row.vintage)}: "
                                 f"{amount:,.0f} tCO2e counted twice; offset with credits from outside the "
                                 "beneficiary's own sites"))
    return found


def double_claims(lake: Lake, snapshot: int | None = None) -> pd.DataFrame:
    """Every double claim found (see module doc), one row each (columns :data:`COLUMNS`); empty when none."""
    claims = _claims(lake, snapshot)
    found = _stand_findings(claims) + _own_sink_findings(lake, snapshot)
    return pd.DataFrame(found, columns=COLUMNS)


def coverage(lake: Lake, snapshot: int | None = None) -> dict[str, int]:
    """How much the stand checks could see: projects, claimed stands, and claimed stands with a boundary."""
    claims = _claims(lake, snapshot)
    return {"projects": int(claims.project_id.nunique()), "stands": int(claims.stand_id.nunique()),
            "mapped": int(claims.dropna(subset=["boundary_wkt"]).stand_id.nunique())}

