"""Tests of the province's administrative boundaries (carbonlib.boundaries).

Expected figures: Hunan has 14 prefecture-level divisions and 122 county-level divisions
(民政部 行政区划统计, 2021), and lies between about 24.6 and 30.1 N, 108.8 and 114.3 E.
Point-in-region answers are checked on places whose location is known: the seats of
Changsha (112.94 E, 28.23 N) and Zhangjiajie (110.48 E, 29.12 N), Wuhan (114.31 E, 30.59 N, in
Hubei, outside).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from carbonlib import boundaries


def test_the_province_its_14_cities_and_122_counties_nest_by_code():
    regions = boundaries.regions()
    levels = [r.level for r in regions.values()]
    assert levels.count("province") == 1 and levels.count("city") == 14 and levels.count("county") == 122
    assert next(iter(regions)) == "430000"
    assert [r.code for r in boundaries.children("430000")] == sorted(c for c, r in regions.items() if r.level == "city")
    for region in regions.values():
        if region.level == "county":
            assert region.parent == region.code[:4] + "00" and regions[region.parent].level == "city", region.code
    # every county's own inside point lies inside its city's outline and inside the province
    for county in (r for r in regions.values() if r.level == "county"):
        lon, lat = county.interior_point()
        assert county.contains([lon], [lat])[0], county.code
        assert regions[county.parent].contains([lon], [lat])[0], county.code
        assert regions["430000"].contains([lon], [lat])[0], county.code
    west, south, east, north = regions["430000"].bounds
    assert 108.6 < west < 109.0 and 24.5 < south < 24.8 and 114.1 < east < 114.4 and 29.9 < north < 30.3


def test_points_inside_and_outside_and_names_in_both_languages():
    regions = boundaries.regions()
    changsha, zhangjiajie = regions["430100"], regions["430800"]
    inside = changsha.contains([112.94, 110.48, 114.31], [28.23, 29.12, 30.59])
    assert inside.tolist() == [True, False, False]
    assert zhangjiajie.contains([110.48], [29.12])[0]
    assert changsha.name("zh") == "长沙市" and changsha.name("en") == "Changsha"
    county = regions["430121"]
    assert county.name("en") == county.name("zh") == "长沙县"  # counties carry their Chinese name only
    points = changsha.random_points(200, np.random.default_rng(1))
    assert points.shape == (200, 2) and changsha.contains(points[:, 0], points[:, 1]).all()


def test_a_file_without_codes_is_refused_with_what_is_missing(tmp_path):
    broken = tmp_path / "broken.geojson"
    broken.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"level": "city", "name_zh": "某市"},
         "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}}]}))
    with pytest.raises(ValueError, match="feature 0 needs properties code, level"):
        boundaries.regions(broken)
    with pytest.raises(FileNotFoundError, match="Fix:"):
        boundaries.regions(tmp_path / "missing.geojson")
