"""Shared fixtures for the lake and demo tests.

``small_demo_lake``: the small demo province, built once per test session (about 5 s), as
the :class:`carbonlib.settings.Settings` that point at it.  Tests must treat it as
read-only (open it with ``Lake.open(settings, read_only=True)``).

``empty_lake``: a freshly created, empty lake per test (Settings).

The suite runs in a time zone eight hours from UTC (``TZ=Asia/Shanghai``, or
``CARBON_TEST_TZ``), for this process and every server and kernel it starts: the lake
keeps UTC whatever the machine's zone (a writer's cursor once stored times 8 h late).
The command line speaks English in the tests (``CARBON_LANG=en``) whatever the locale.
"""

from __future__ import annotations

import os
import time

os.environ["TZ"] = os.environ.get("CARBON_TEST_TZ", "Asia/Shanghai")
time.tzset()
os.environ["CARBON_LANG"] = "en"  # command-line texts whatever the machine's locale; tests of zh set it themselves

import pytest  # noqa: E402

from carbonlib.settings import Settings, load_settings  # noqa: E402

_CARBON_ENV = ("CARBON_LAKE", "CARBON_CATALOG", "CARBON_DATA_PATH", "CARBON_CONFIG", "CARBON_SECURITY_STORE",
               "CARBON_MEMORY_LIMIT", "CARBON_THREADS")


@pytest.fixture(scope="session", autouse=True)
def _no_carbon_environment(tmp_path_factory):
    """Keep a developer's CARBON_* variables and ``carbon login`` sessions out of the tests."""
    with pytest.MonkeyPatch.context() as mp:
        for name in _CARBON_ENV:
            if name in os.environ:
                mp.delenv(name)
        mp.setenv("CARBON_SESSION_FILE", str(tmp_path_factory.mktemp("cli") / "no-session"))
        yield


def lake_settings(path) -> Settings:
    """Settings for an embedded lake in folder ``path`` (catalog and data inside it)."""
    return load_settings(lake=path)


#: Password of the test accounts (meets the default policy; the demo's own accounts have one-time passwords).
TEST_PASSWORD = "Carbon-test-2364!"
#: Test accounts: user name -> (administrator role, [(business role, org)]).
TEST_USERS = {
    "t-province": (None, [("manager", "P43")]),
    "t-analyst": (None, [("analyst", "P43")]),
    "t-changsha-county": (None, [("manager", "D430121")]),
    "t-liuyang": (None, [("manager", "D430181")]),
    "t-two-counties": (None, [("manager", "D430223"), ("manager", "D430281")]),
    "t-devices": (None, [("device_operator", "P43")]),
    "t-officer": (None, [("data_officer", "E430121-01")]),
    "t-reviewer": (None, [("reviewer", "P43")]),
    "t-officer-reviewer": (None, [("data_officer", "E430121-01"), ("reviewer", "D430121")]),
    "t-sysadmin": ("sysadmin", []),
    "t-secadmin": ("secadmin", []),
    "t-auditor": ("auditor", []),
}


def copy_lake(settings: Settings, target) -> Settings:
    """A copy of a lake, its security store and its credit registry (``<lake>-security``, ``<lake>-registry``,
    kept next to the lake)."""
    import shutil
    from pathlib import Path

    shutil.copytree(settings.lake, target)
    for suffix in ("-security", "-registry"):
        beside = Path(settings.lake).with_name(Path(settings.lake).name + suffix)
        if beside.is_dir():
            shutil.copytree(beside, Path(target).with_name(Path(target).name + suffix))
    return lake_settings(target)


def copy_lake_with_people(settings: Settings, target, people: dict[str, list[tuple[str, str]]]) -> Settings:
    """:func:`copy_lake`, then provision ``people`` (username -> business grants) in the copy's security store
    (password :data:`TEST_PASSWORD`, no change needed)."""
    from carbonlib.security import Security

    copied = copy_lake(settings, target)
    with Security.open(copied) as security:
        for username, grants in people.items():
            security.provision(username, username, grants=grants, password=TEST_PASSWORD, must_change=False)
    return copied


def provision_test_users(settings: Settings) -> dict[str, str]:
    """The test accounts in the lake's security store (password :data:`TEST_PASSWORD`, no change needed);
    returns the administrators' TOTP secrets."""
    from carbonlib.security import Security

    secrets = {}
    with Security.open(settings) as security:
        for username, (admin_role, grants) in TEST_USERS.items():
            account = security.provision(username, username, admin_role=admin_role, grants=grants,
                                         password=TEST_PASSWORD, must_change=False)
            secrets[username] = account.totp_secret
    return secrets


@pytest.fixture(scope="session")
def small_demo_lake(tmp_path_factory) -> Settings:
    """The small demo lake (default seed) with its demo accounts and the test accounts, built once per
    session; treat as read-only."""
    from carbonlib.demo import build_demo

    settings = lake_settings(tmp_path_factory.mktemp("demo_small") / "lake")
    build_demo(settings, "small", progress=False)
    _TOTP.update(provision_test_users(settings))
    return settings


_TOTP: dict[str, str] = {}


@pytest.fixture(scope="session")
def totp_secrets(small_demo_lake) -> dict[str, str]:
    """TOTP secrets of the test administrators (t-sysadmin, t-secadmin, t-auditor)."""
    return dict(_TOTP)


@pytest.fixture
def empty_lake(tmp_path) -> Settings:
    """A new, empty lake (schema created, no data) in a temporary folder."""
    from carbonlib.lake import Lake

    settings = lake_settings(tmp_path / "lake")
    Lake.create(settings).close()
    yield settings


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server (Debian's) on a free loopback port, password-protected; yields its DSN
    (:func:`servers.postgres`)."""
    import servers

    try:
        with servers.postgres() as dsn:
            yield dsn
    except RuntimeError as missing:
        pytest.fail(str(missing))
