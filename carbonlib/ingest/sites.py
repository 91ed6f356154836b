"""Flux sites known to the package: coordinates and the UTC offset of their local standard time.

The table ``carbonlib/data/flux_sites.csv`` lists each site's id (FLUXNET style ``CC-Sss``), name,
WGS84 coordinates, hours from UTC of its local standard time and the source of those figures.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

import pandas as pd


@lru_cache(maxsize=1)
def flux_sites() -> pd.DataFrame:
    """The site table, indexed by ``site_id``: name, latitude, longitude (degree), utc_offset_h (h), source."""
    with resources.files("carbonlib").joinpath("data/flux_sites.csv").open(encoding="utf-8") as handle:
        return pd.read_csv(handle, index_col="site_id")


def utc_offset_of(site_id: str | None, path: str | Path = "") -> float:
    """Hours from UTC of ``site_id``'s local standard time; ValueError naming ``utc_offset`` when unknown."""
    sites = flux_sites()
    if site_id is None or site_id not in sites.index:
        what = f"site {site_id!r}" if site_id else "a site id (no '# Site:' line, no AMF_/FLX_ file name)"
        raise ValueError(f"{path}: the time zone of {what} is not known; pass utc_offset (hours of the site's local "
                         f"standard time from UTC, e.g. utc_offset=-8, or --utc-offset -8). Known sites: "
                         f"{', '.join(sites.index)}")
    return float(sites.loc[site_id, "utc_offset_h"])
