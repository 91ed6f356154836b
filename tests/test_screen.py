"""The province screen (carbonlib.viz.screen) and the region map, built on the small demo lake without a browser.

Expected values are read independently: account figures with
:func:`carbonlib.accounting.accounts.account_figures`, regions with :mod:`carbonlib.boundaries`
(the small demo has Changsha and Zhuzhou with two counties each).  The browser half (served
page, rotation on its timer, both looks and languages, offline) is in ``test_dashboards.py``.
"""

from __future__ import annotations

import math

import pytest

from carbonlib import boundaries
from carbonlib.accounting import accounts
from carbonlib.lake import Lake
from carbonlib.security import Grant, Principal
from carbonlib.viz import data as rollup_data
from carbonlib.viz import screen
from carbonlib.viz.components import Overview
from carbonlib.viz.scope import Scope

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lake(small_demo_lake):
    with Lake.open(small_demo_lake, read_only=True) as opened:
        yield opened


def _scope(lake, *grants: str) -> Scope:
    principal = Principal(9, "viewer", "viewer", grants=tuple(Grant("manager", g) for g in grants))
    return Scope(principal, rollup_data.rollups(lake).tree, "view_figures")


def _net(lake, org_id: str, period: str = "2025") -> float:
    figures = accounts.account_figures(lake, org_id, period)
    return float(figures.set_index("item").value["net"])


def test_the_screen_rotates_from_the_province_through_its_cities_and_maps_each(lake):
    view = screen.ProvinceScreen(lake, _scope(lake, "P43"), lang="en")
    assert view.stops == ["P43", "C4301", "C4302"] and view.focus() == "P43"
    cities = [r.code for r in boundaries.children("430000")]
    assert view.map.regions.data["code"] == cities  # all 14 cities, the two of the demo with figures
    shown = dict(zip(view.map.regions.data["code"], view.map.regions.data["net"]))
    assert shown["430100"] == pytest.approx(_net(lake, "C4301")) and shown["430200"] == pytest.approx(_net(lake, "C4302"))
    assert math.isnan(shown["430300"])  # Xiangtan: no org in the small demo, drawn without figures
    assert 'data-focus="P43"' in view.title.object and "Hunan Province" in view.title.object

    view.advance()
    assert view.focus() == "C4301" and 'data-focus="C4301"' in view.title.object
    counties = [r.code for r in boundaries.children("430100")]
    assert view.map.regions.data["code"] == counties
    shown = dict(zip(view.map.regions.data["code"], view.map.regions.data["net"]))
    assert shown["430121"] == pytest.approx(_net(lake, "D430121")) and shown["430181"] == pytest.approx(_net(lake, "D430181"))
    # the markers are Changsha's own enterprises, sites and towers, at their coordinates
    enterprises = view.map.places["enterprise"].data
    assert len(enterprises["x"]) == 6 and all(name.startswith(("Changsha", "Liuyang")) for name in enterprises["name"])
    view.advance(), view.advance()
    assert view.focus() == "P43"  # round again


def test_kpis_ranking_and_ticker_say_what_the_accounts_and_devices_say(lake):
    view = screen.ProvinceScreen(lake, _scope(lake, "P43"), org="C4302", lang="zh", look="light")
    assert view.stops == ["C4302", "D430223", "D430281"]  # in the order of the org tree
    from carbonlib.viz.theme import format_value

    figures = accounts.account_figures(lake, "C4302", "2025").set_index("item").value
    for item in ("emissions_total", "removals", "net"):
        assert f'data-item="{item}"' in view.kpis.object
        assert format_value(figures[item], "tCO2e") in view.kpis.object
    ranking = view.ranking.object
    assert ranking.index("醴陵市" if _net(lake, "D430281") > _net(lake, "D430223") else "攸县") < ranking.index(
        "攸县" if _net(lake, "D430281") > _net(lake, "D430223") else "醴陵市")  # highest net first
    over = sum(1 for org in ("E430281-01", "E430281-02", "E430281-03", "E430223-01", "E430223-02", "E430223-03")
               if accounts.account_figures(lake, org, "2025").set_index("item").value.get("cap_utilisation", 0) > 1)
    devices = view.data.devices[view.data.devices.org_id.isin(view.inside("C4302").org_id)]
    status = rollup_data.status_table(rollup_data.device_status(lake), devices)
    quiet = int((status.status != "online").sum())  # a count line and the longest silent of them
    expected_alerts = sum(1 + min(n, screen.TICKER_LINES // 2) for n in (quiet, over) if n)
    assert f'data-alerts="{expected_alerts}"' in view.ticker.object
    assert view.look_name == "light" and "#ffffff" in screen.screen_css(view.look)


def test_a_county_manager_sees_only_the_county_and_bad_parameters_are_refused(lake):
    view = screen.ProvinceScreen(lake, _scope(lake, "D430121"), org="C4302", lang="en")
    assert view.stops == ["D430121"] and "may not see" in view.message.object
    assert view.map.regions.data["code"] == ["430121"]
    assert {n[:8] for n in view.map.places["enterprise"].data["name"]} == {"Changsha"}
    two = screen.ProvinceScreen(lake, _scope(lake, "D430223", "D430281"), lang="en")
    assert two.stops == ["D430223", "D430281"]
    with pytest.raises(ValueError, match="look=dark or look=light"):
        screen.ProvinceScreen(lake, _scope(lake, "P43"), look="neon")
    with pytest.raises(ValueError, match="rotate='fast' is not a period"):
        screen.screen_page(lake, _scope(lake, "P43"), {"rotate": "fast"}, rollup_data.rollups(lake))


def test_the_overview_map_draws_the_same_boundaries(lake):
    view = Overview(lake, _scope(lake, "P43"), org="C4302", period="2025", lang="en")
    assert view.map.regions.data["code"] == [r.code for r in boundaries.children("430200")]
    outline_x = view.map.outline.data["xs"][0][0][0]
    expected = boundaries.regions()["430200"].polygons[0][0][:, 0] * view.map.X_SCALE
    assert outline_x == pytest.approx(list(expected))


def test_the_overview_draws_its_headline_first_and_only_the_latest_details(lake, monkeypatch):
    """Served, the overview sends the header and KPI cards at once and draws tables, charts and map a moment
    later (``components.after_headline``); a choice made before those are drawn supersedes them."""
    from carbonlib.viz import components

    tree = rollup_data.rollups(lake).tree

    def children(org_id: str) -> set[str]:
        return set(tree[tree.parent_id == org_id].org_id)

    view = Overview(lake, _scope(lake, "P43"), org="C4301", period="2025", lang="en")
    assert 'data-org="C4301"' in view.progress.object  # not served: drawn at once
    scheduled = []
    monkeypatch.setattr(components, "after_headline", scheduled.append)
    view.org_select.value = "C4302"
    assert 'data-org="C4302"' in view.header.object and "Updating" in view.progress.object
    assert set(view._rows["children"].org_id) == children("C4301")  # the tables still show the earlier choice
    view.org_select.value = "D430121"
    for callback in scheduled:  # the event loop runs both: the first is superseded
        callback()
    assert 'data-org="D430121"' in view.progress.object and "Updating" not in view.progress.object
    assert set(view._rows["children"].org_id) == children("D430121") != children("C4301")
    assert set(view.figures.org_id) == {"D430121"}
