"""Shared fixtures for the lake and demo tests.

``small_demo_lake``: the small demo province, built once per test session (about 5 s), as
the :class:`carbonlib.settings.Settings` that point at it.  Tests must treat it as
read-only (open it with ``Lake.open(settings, read_only=True)``).

``empty_lake``: a freshly created, empty lake per test (Settings).

The suite runs in a time zone eight hours from UTC (``TZ=Asia/Shanghai``, or
``CARBON_TEST_TZ``), for this process and every server and kernel it starts: the lake
keeps UTC whatever the machine's zone (a writer's cursor once stored times 8 h late).
"""

from __future__ import annotations

import os
import time

os.environ["TZ"] = os.environ.get("CARBON_TEST_TZ", "Asia/Shanghai")
time.tzset()

import pytest  # noqa: E402

from carbonlib.settings import Settings, load_settings  # noqa: E402

_CARBON_ENV = ("CARBON_LAKE", "CARBON_CATALOG", "CARBON_DATA_PATH", "CARBON_CONFIG")


@pytest.fixture(scope="session", autouse=True)
def _no_carbon_environment():
    """Keep a developer's CARBON_* variables from pointing the tests at a real lake."""
    with pytest.MonkeyPatch.context() as mp:
        for name in _CARBON_ENV:
            if name in os.environ:
                mp.delenv(name)
        yield


def lake_settings(path) -> Settings:
    """Settings for an embedded lake in folder ``path`` (catalog and data inside it)."""
    return load_settings(lake=path)


@pytest.fixture(scope="session")
def small_demo_lake(tmp_path_factory) -> Settings:
    """The small demo lake (default seed), built once per session; treat as read-only."""
    from carbonlib.demo import build_demo

    settings = lake_settings(tmp_path_factory.mktemp("demo_small") / "lake")
    build_demo(settings, "small", progress=False)
    return settings


@pytest.fixture
def empty_lake(tmp_path) -> Settings:
    """A new, empty lake (schema created, no data) in a temporary folder."""
    from carbonlib.lake import Lake

    settings = lake_settings(tmp_path / "lake")
    Lake.create(settings).close()
    yield settings
