"""Our bad-input corpus: over 80 hostile or broken inputs across the writer, the CLI, files and pages.

Each case runs against a copy of the small demo lake and is classified:

* **refused clearly**: a carbonlib error (or a page's refusal) that names what is wrong;
* **refused cryptically**: any other exception, a traceback, or an exit code other than 1/2;
* **accepted**: no refusal at all;
* **corrupted**: the lake's snapshot, content checksums or files changed, or it no longer opens.

The tally is printed in every run (not only on failure) and written to
``test-artifacts/bad_input_tally.json``.  Accepted and corrupted must be 0, and so must
cryptic: every refusal names its cause.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from conftest import copy_lake, lake_settings
from typer.testing import CliRunner

from carbonlib.cli import app
from carbonlib.lake import Lake, LakeError
from carbonlib.settings import SettingsError

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
runner = CliRunner()

METER = "M-E430121-01-electricity_import"  # hourly electricity meter of E430121-01, installed 2024-11-01
TOWER = "T-S430121-01"
CLEAR = "refused clearly"
CRYPTIC = "refused cryptically"
ACCEPTED = "accepted"
CORRUPTED = "corrupted"


@dataclass
class Case:
    surface: str  # writer, cli, files, pages, registry
    name: str
    run: Callable[[Path], str | None]  # returns the refusal text, or None when nothing was refused


CASES: list[Case] = []


def case(surface: str, name: str):
    def register(run):
        CASES.append(Case(surface, name, run))
        return run
    return register


# ------------------------------------------------------------------------------------ writer
def _append(lake_dir: Path, table: str, rows: list[dict] | pd.DataFrame, **kw) -> str | None:
    batch = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    with Lake.open(lake_settings(lake_dir)) as lake:
        try:
            lake.append(table, batch, **kw)
        except (LakeError, ValueError, TypeError) as error:
            return str(error)
    return None


READING = dict(device_id=METER, metric="electricity_import", ts=datetime(2025, 6, 1, 10), value=812.5, qc=0)
ORG = dict(org_id="E430121-77", parent_id="D430121", level="enterprise", kind="enterprise", name_zh="测试企业",
           name_en="Test Co.", region_code="430121", industry="power", area_ha=None, latitude=None, longitude=None)
ENTRY = dict(entry_id="A-CORPUS-1", org_id="E430121-01", period_start=date(2025, 6, 1), period_end=date(2025, 6, 30),
             category="purchased_electricity", activity_type="grid", amount=100.0, unit="MWh", evidence_ref="INV-X",
             author="corpus", status="submitted", entered_at=datetime(2025, 7, 1), reverses_entry_id=None)

TELEMETRY_CASES = {
    "unknown device": {"device_id": "M-NOBODY"},
    "unknown metric": {"metric": "sunshine"},
    "NaN value": {"value": float("nan")},
    "infinite value": {"value": float("inf")},
    "value out of plausible range": {"value": -5.0},
    "qc out of the allowed set": {"qc": 7},
    "qc 0.6 (would round to 1)": {"qc": 0.6},
    "qc as text": {"qc": "good"},
    "time stamp not a time": {"ts": "yesterday"},
    "time stamp far in the future": {"ts": datetime.now() + timedelta(days=400)},
    "time stamp far in the past": {"ts": datetime(1970, 1, 1)},
    "reading before installation": {"ts": datetime(2024, 6, 1)},
    "off the hourly grid": {"ts": datetime(2025, 6, 1, 10, 7)},
    "coal on an electricity meter": {"metric": "coal", "value": 2.0},
    "NULL time stamp": {"ts": None},
    "NULL device": {"device_id": None},
    "empty device id": {"device_id": ""},
    "device id with a path": {"device_id": "../../etc/passwd"},
    "device id with SQL": {"device_id": "x'); DROP TABLE telemetry; --"},
    "lone surrogate in the id": {"device_id": "M-\udcff"},
    "bytes that are not UTF-8": {"device_id": b"\xff\xfe"},
    "a megabyte of text": {"device_id": "M" * 1_000_000},
}
def _frame(row: dict) -> pd.DataFrame:
    """One row; text and bytes go in object columns, as a CSV read with dtype=object gives them (pandas' own
    string dtype cannot even hold a lone surrogate)."""
    return pd.DataFrame({k: pd.Series([v], dtype=object if isinstance(v, (str, bytes)) else None) for k, v in row.items()})


for _name, _change in TELEMETRY_CASES.items():
    case("writer", f"telemetry: {_name}")(lambda d, c=_change: _append(d, "telemetry", _frame(READING | c)))

case("writer", "telemetry: wrong unit column")(lambda d: _append(d, "telemetry", [READING | {"unit": "MWh"}]))
case("writer", "telemetry: boolean value")(lambda d: _append(d, "telemetry", [READING | {"value": True}]))
case("writer", "telemetry: column missing")(lambda d: _append(d, "telemetry", [{k: v for k, v in READING.items() if k != "qc"}]))
case("writer", "telemetry: extra column")(lambda d: _append(d, "telemetry", [READING | {"secret": 1}]))
case("writer", "telemetry: duplicate key in the batch")(lambda d: _append(d, "telemetry", [READING, READING | {"value": 1.0}]))
case("writer", "telemetry: changes a stored reading")(lambda d: _append(
    d, "telemetry", [READING | {"ts": datetime(2025, 1, 1, 0), "value": 99999.0}]))
case("writer", "telemetry: not a table")(lambda d: _append(d, "telemetry", [[1, 2, 3]]))
case("writer", "telemetry: quarantine mode for a ledger table")(lambda d: _append(d, "activity", [ENTRY], on_error="quarantine"))

ORG_CASES = {
    "id with a slash": {"org_id": "E/1"},
    "id with ..": {"org_id": "E..1"},
    "id with a quote": {"org_id": "E'1"},
    "padded id": {"org_id": " E430121-77"},
    "id with a control character": {"org_id": "E\x0777"},
    "second root": {"parent_id": None, "level": "province", "kind": "government", "industry": None,
                    "region_code": "440000"},
    "own parent": {"parent_id": "E430121-77"},
    "parent at a lower level": {"parent_id": "E430121-01"},
    "unknown parent": {"parent_id": "D999999"},
    "region code not 6 digits": {"region_code": "4301"},
    "region outside the parent": {"region_code": "440121"},
    "industry on a forest site": {"level": "site", "kind": "forest"},
    "enterprise of kind wetland": {"kind": "wetland"},
    "blank name": {"name_en": "   "},
    "name with control characters": {"name_zh": "名\x00称"},
    "name too long": {"name_en": "N" * 5000},
    "latitude 91": {"latitude": 91.0},
    "unknown level": {"level": "planet"},
}
for _name, _change in ORG_CASES.items():
    case("writer", f"org: {_name}")(lambda d, c=_change: _append(d, "org", [ORG | c]))
case("writer", "org: a cycle inside the batch")(lambda d: _append(d, "org", [
    ORG | {"org_id": "C4388", "parent_id": "C4389", "level": "city", "kind": "government", "industry": None,
           "region_code": "438800"},
    ORG | {"org_id": "C4389", "parent_id": "C4388", "level": "city", "kind": "government", "industry": None,
           "region_code": "438900"}]))

ACTIVITY_CASES = {
    "ends before it starts": {"period_end": date(2025, 5, 1)},
    "lies in the future": {"period_start": date.today() + timedelta(days=90), "period_end": date.today() + timedelta(days=100)},
    "spans three years": {"period_start": date(2022, 1, 1)},
    "MWh of diesel": {"category": "mobile_combustion", "activity_type": "diesel"},
    "absurd amount": {"amount": 1e15, "unit": "kWh"},
    "negative without a reversal": {"amount": -10.0},
    "reverses an entry that does not exist": {"amount": -100.0, "reverses_entry_id": "A-NOTHING"},
    "unknown category": {"category": "magic"},
    "unknown org": {"org_id": "E999999-01"},
    "unknown unit": {"unit": "barrel"},
    "unknown status": {"status": "lost"},
    "NaN amount": {"amount": float("nan")},
}
for _name, _change in ACTIVITY_CASES.items():
    case("writer", f"activity: {_name}")(lambda d, c=_change: _append(d, "activity", [ENTRY | c]))


def _reverse_twice(lake_dir: Path) -> str | None:
    original = "A-E430121-01-202503-purchased_electricity-grid"  # reversed once in the demo ledger
    with Lake.open(lake_settings(lake_dir), read_only=True) as lake:
        row = lake.read("activity", where="entry_id = ?", params=[original]).iloc[0].to_dict()
    return _append(lake_dir, "activity", [row | {"entry_id": original + "-R2", "amount": -row["amount"],
                                                 "reverses_entry_id": original}])


case("writer", "activity: reverses an entry already reversed")(_reverse_twice)

for _table, _row in (("lake_meta", {"key": "schema_version", "value": "99"}),
                     ("metric", {"metric": "NEE", "unit": "kWh", "description": "forged", "min_valid": 0.0, "max_valid": 1.0}),
                     ("telemetry_reject", {"received_at": datetime(2025, 1, 1), "source": "x", "row_number": 0,
                                           "field": "value", "reason": "forged", "payload": "{}"}),
                     ("account", {"org_id": "P43", "period": "2025", "period_start": date(2025, 1, 1),
                                  "period_end": date(2025, 12, 31), "method_version": "acct-2.0", "item": "net",
                                  "value": 0.0, "unit": "tCO2e", "basis": "forged", "snapshot_id": 1,
                                  "computed_at": datetime(2025, 1, 1)}),
                     ("telemetry_daily", {"device_id": METER, "metric": "electricity_import", "day": date(2025, 1, 1),
                                          "n": 1, "total": 0.0, "mean": 0.0, "minimum": 0.0, "maximum": 0.0,
                                          "good_share": 1.0, "last_ts": datetime(2025, 1, 1)}),
                     ("report_run", {"run_id": "R-F", "kind": "monthly", "org_id": "P43", "period": "2025-01",
                                     "snapshot_id": 1, "status": "ok", "started_at": datetime(2025, 2, 1), "seconds": 1.0,
                                     "notebook_path": None, "html_path": None, "table_path": None,
                                     "figures_sha256": None, "error": None})):
    case("writer", f"{_table}: written from outside its service")(lambda d, t=_table, r=_row: _append(d, t, [r]))

FACTOR = dict(factor_id="F-CORPUS", kind="process", subject="lime", series="test", data_year=None, value=0.7,
              unit="tCO2/t", source="corpus", verified=False)
case("writer", "emission_factor: negative")(lambda d: _append(d, "emission_factor", [FACTOR | {"value": -0.7}]))
case("writer", "emission_factor: unknown kind")(lambda d: _append(d, "emission_factor", [FACTOR | {"kind": "vibes"}]))
case("writer", "emission_factor: oxidation above 1")(lambda d: _append(d, "emission_factor", [FACTOR | {"kind": "oxidation", "value": 1.5}]))
case("writer", "gwp: negative")(lambda d: _append(d, "gwp", [{"gas": "SF6", "assessment": "AR5", "value": -23500.0, "source": "x"}]))
case("writer", "gwp: zero")(lambda d: _append(d, "gwp", [{"gas": "SF6", "assessment": "AR6", "value": 0.0, "source": "x"}]))
case("writer", "cap: negative")(lambda d: _append(d, "cap", [{"org_id": "E430121-01", "year": 2030, "cap_tco2e": -1.0, "source": "x"}]))
case("writer", "credit_event: written around the registry")(lambda d: _append(d, "credit_event", [dict(
    event_id="EV-X", project_id="PRJ-430121-02", event_type="retire", event_time=datetime(2025, 3, 1), vintage=2024,
    serial_start=1, serial_end=10, quantity_tco2e=1_000_000.0, from_account="ACC-X", to_account=None, prev_hash="",
    hash="h")]))


def _registry(lake_dir: Path, operation) -> str | None:
    from carbonlib.registry import Registry, RegistryRefused

    with Registry.open(lake_settings(lake_dir)) as registry:
        try:
            operation(registry)
        except RegistryRefused as error:
            return str(error)
    return None


case("registry", "retire a million never-issued credits")(lambda d: _registry(d, lambda r: r.retire(
    "E430121-02", "PRJ-430121-02", 2025, 1_000_000, beneficiary="E430121-02", purpose="voluntary")))
case("registry", "issue over serials issued already")(lambda d: _registry(d, lambda r: r.issue(
    "PRJ-430121-02", 2025, 100, proponent="S430121-02", verification_ref="V-NEW", serial_start=50)))
case("writer", "forest_stand: unknown species")(lambda d: _append(d, "forest_stand", [dict(
    stand_id="ST-X", org_id="S430121-01", species_group="unobtainium", area_ha=3.0, origin="planted", established_year=2000)]))
case("writer", "unknown table")(lambda d: _append(d, "secrets", [{"a": 1}]))


# ------------------------------------------------------------------------------------ CLI
def _cli(*args: str, env: dict | None = None) -> str | None:
    result = runner.invoke(app, list(args), env=env)
    if result.exit_code == 0:
        return None
    if not isinstance(result.exception, SystemExit) or result.exit_code not in (1, 2) or "Traceback" in result.output:
        raise RuntimeError(f"exit {result.exit_code}: {result.exception!r}\n{result.output[-500:]}")
    return result.output


CLI_CASES = {
    "lake info on a folder that is not a lake": lambda d: _cli("lake", "info", "--lake", str(d.parent / "nowhere")),
    "lake info --snapshot -1": lambda d: _cli("lake", "info", "--lake", str(d), "--snapshot", "-1"),
    "lake info --snapshot 999": lambda d: _cli("lake", "info", "--lake", str(d), "--snapshot", "999"),
    "lake checksums --snapshot abc": lambda d: _cli("lake", "checksums", "--lake", str(d), "--snapshot", "abc"),
    "lake init over a lake": lambda d: _cli("lake", "init", "--lake", str(d)),
    "lake info with a foreign catalog scheme": lambda d: _cli("lake", "info", "--catalog", "mysql:db=x"),
    "demo build --scale huge": lambda d: _cli("demo", "build", "--lake", str(d.parent / "x"), "--scale", "huge"),
    "demo build over an existing lake without --force": lambda d: _cli("demo", "build", "--lake", str(d), "--no-progress"),
    "reports run --period 2025-13": lambda d: _cli("reports", "run", "--lake", str(d), "--period", "2025-13"),
    "reports run --kind weekly": lambda d: _cli("reports", "run", "--lake", str(d), "--period", "2025", "--kind", "weekly"),
    "reports run --org ../../x": lambda d: _cli("reports", "run", "--lake", str(d), "--period", "2025-10", "--org",
                                                "../../x", "--out", str(d.parent / "out")),
    "reports run --org with SQL": lambda d: _cli("reports", "run", "--lake", str(d), "--period", "2025-10", "--org",
                                                 "x'); COPY (SELECT 1) TO '/tmp/x'; --", "--out", str(d.parent / "out")),
    "reports run --lang fr": lambda d: _cli("reports", "run", "--lake", str(d), "--period", "2025-10", "--lang", "fr"),
    "reports run --workers 0": lambda d: _cli("reports", "run", "--lake", str(d), "--period", "2025-10", "--workers", "0"),
    "reports run --snapshot -3": lambda d: _cli("reports", "run", "--lake", str(d), "--period", "2025-10", "--snapshot", "-3"),
    "accounts caps --year 2031": lambda d: _cli("accounts", "caps", "--lake", str(d), "--year", "2031"),
    "accounts caps --as-of tomorrow": lambda d: _cli("accounts", "caps", "--lake", str(d), "--year", "2025", "--as-of", "tomorrow"),
    "accounts caps --offset-limit 2": lambda d: _cli("accounts", "caps", "--lake", str(d), "--year", "2025", "--offset-limit", "2"),
    "accounts caps --org of nobody": lambda d: _cli("accounts", "caps", "--lake", str(d), "--year", "2025", "--org", "E999"),
    "schema of an unknown table": lambda d: _cli("schema", "secrets"),
    "pipelines run-job unknown": lambda d: _cli("pipelines", "run-job", "nothing", "--lake", str(d)),
    "dashboards panel on an empty folder": lambda d: _cli("dashboards", "panel", "--dashboards", str(d.parent / "empty")),
    "dashboards panel --port 70000": lambda d: _cli("dashboards", "panel", "--port", "70000"),
    "lake verify on a folder that is not a lake": lambda d: _cli("lake", "verify", "--lake", str(d.parent / "nowhere")),
    "a catalog password is not echoed": lambda d: _no_secret(_cli("lake", "info", "--lake", str(d.parent / "pg"), "--catalog",
                                                                  "postgres:host=127.0.0.1 port=1 password=hunter2")),
}
for _name, _run in CLI_CASES.items():
    case("cli", _name)(_run)


def _no_secret(output: str | None) -> str | None:
    if output is not None and "hunter2" in output:
        raise RuntimeError("the password was printed")
    return output


# ------------------------------------------------------------------------------------ files
def _config(text: str) -> Callable[[Path], str | None]:
    def run(lake_dir: Path) -> str | None:
        path = lake_dir.parent / "carbon.toml"
        path.write_text(text)
        return _cli("lake", "info", env={"CARBON_CONFIG": str(path)})
    return run


for _name, _text in {"not TOML": "lake = [", "an unknown key": "colour = 'red'", "a number for the lake": "lake = 5",
                     "an empty lake path": "lake = ''", "a foreign catalog scheme": "catalog = 'ftp://x'",
                     "a negative lock timeout": "lock_timeout_s = -1", "binary garbage": "\x00\x01\x02"}.items():
    case("files", f"carbon.toml: {_name}")(_config(_text))


def _schedule(text: str) -> Callable[[Path], str | None]:
    def run(lake_dir: Path) -> str | None:
        path = lake_dir.parent / "schedule.yaml"
        path.write_text(text)
        return _cli("pipelines", "crontab", "--schedule", str(path))
    return run


for _name, _text in {"not YAML": "jobs: [unclosed", "a list, not a mapping": "- a\n- b\n",
                     "an unknown job function": "jobs:\n  x: {cron: '0 1 * * *', run: rm_rf}\n",
                     "a bad cron": "jobs:\n  x: {cron: 'every day', run: build_accounts, args: {period: '2025'}}\n",
                     "a bad time zone": "timezone: Mars/Olympus\njobs: {}\n",
                     "a job that is a string": "jobs:\n  x: now\n"}.items():
    case("files", f"schedule.yaml: {_name}")(_schedule(_text))


def _security_file(damage: str) -> Callable[[Path], str | None]:
    """Damage a copy of the lake's security folder, then run a command that needs a principal on it."""
    def run(lake_dir: Path) -> str | None:
        import os

        copy = lake_dir.parent / f"secured-{damage.replace(' ', '-')}"
        for folder in (copy, copy.with_name(copy.name + "-security"), copy.with_name(copy.name + "-registry")):
            shutil.rmtree(folder, ignore_errors=True)
        copy_lake(lake_settings(lake_dir), copy)
        folder = copy.with_name(copy.name + "-security")
        if damage == "service key readable by others":
            os.chmod(folder / "service.key", 0o644)
        elif damage == "audit key readable by others":
            os.chmod(folder / "audit.key", 0o644)
        elif damage == "audit key missing":
            (folder / "audit.key").unlink()
        elif damage == "store is garbage":
            (folder / "security.sqlite").write_bytes(b"not a database" * 100)
        elif damage == "service key names nobody":
            (folder / "service.key").write_text("nobody\nsecret\n")
            os.chmod(folder / "service.key", 0o600)
        return _cli("accounts", "refresh", "--lake", str(copy), env={"CARBON_SESSION_FILE": str(copy.parent / "none")})
    return run


for _damage_kind in ("service key readable by others", "audit key readable by others", "audit key missing",
                     "store is garbage", "service key names nobody"):
    case("files", f"security folder: {_damage_kind}")(_security_file(_damage_kind))


def _damage(kind: str, command: tuple[str, ...]) -> Callable[[Path], str | None]:
    """Damage a copy of the lake and run a command on it (the copy is the input; the real lake stays intact)."""
    def run(lake_dir: Path) -> str | None:
        copy = lake_dir.parent / f"damaged-{kind}"
        for folder in (copy, copy.with_name(copy.name + "-security"), copy.with_name(copy.name + "-registry")):
            shutil.rmtree(folder, ignore_errors=True)
        copy_lake(lake_settings(lake_dir), copy)
        victim = max((copy / "data").rglob("*.parquet"), key=lambda p: p.stat().st_size)
        if kind == "truncated":
            with open(victim, "r+b") as handle:
                handle.truncate(victim.stat().st_size // 3)
        elif kind == "missing":
            victim.unlink()
        else:
            (copy / "catalog.sqlite").write_bytes(b"garbage" * 100)
        return _cli(*command, "--lake", str(copy))
    return run


for _kind, _command in (("truncated", ("lake", "checksums")), ("truncated", ("lake", "info")),
                        ("missing", ("accounts", "build")), ("missing", ("lake", "verify")),
                        ("catalog", ("lake", "info"))):
    case("files", f"damaged lake ({_kind} file): {' '.join(_command)}")(_damage(_kind, _command))


# ------------------------------------------------------------------------------------ pages
def _principal_of(lake_dir: Path, username: str | None):
    """The principal of a test account, as the servers resolve it from a session (None: not logged in)."""
    if username is None:
        return None
    from carbonlib.security import Security

    with Security.open(lake_settings(lake_dir)) as security, security.store.transaction() as tx:
        user_id, display, admin_role = tx.one("SELECT user_id, display_name, admin_role FROM users WHERE username = ?",
                                              [username])
        return security.sessions._principal(tx, user_id, username, display, admin_role, None, "corpus")


def _page(builder: str, args: dict, user: str | None) -> Callable[[Path], str | None]:
    """Build the page a request with ``args`` by ``user`` gets (as the Panel and Voila servers do); its refusal."""
    def run(lake_dir: Path) -> str | None:
        from carbonlib.viz import components, data

        principal = _principal_of(lake_dir, user)
        with Lake.open(lake_settings(lake_dir), read_only=True) as lake:
            page = components.page_for(getattr(components, builder), principal, args, lake, data.rollups(lake))
            text = json.dumps([getattr(o, "object", "") for o in page.select()], default=str)
        refused = "data-testid=\\\"refused\\\"" in text or 'data-testid="refused"' in text
        return text if refused else None
    return run


PAGE_CASES = {
    "explorer: not logged in": ("explorer_page", {}, None),
    "explorer: a viewer named in the URL": ("explorer_page", {"viewer": "t-province"}, None),
    "explorer: a viewer with a script in the URL": ("explorer_page", {"viewer": "<script>alert(1)</script>"}, None),
    "explorer: org of another county": ("explorer_page", {"org": "D430181"}, "t-changsha-county"),
    "explorer: unknown org": ("explorer_page", {"org": "X1"}, "t-analyst"),
    "explorer: org with a script": ("explorer_page", {"org": "<img src=x onerror=alert(1)>"}, "t-analyst"),
    "explorer: period 2024 without accounts": ("explorer_page", {"period": "2024"}, "t-analyst"),
    "explorer: period 2025-13": ("explorer_page", {"period": "2025-13"}, "t-analyst"),
    "explorer: lang xx": ("explorer_page", {"lang": "xx"}, "t-analyst"),
    "explorer: a device operator (no figures)": ("explorer_page", {}, "t-devices"),
    "overview: org of another county": ("overview_page", {"org": "D430121"}, "t-liuyang"),
    "overview: period with SQL": ("overview_page", {"period": "2025'; DROP TABLE org; --"}, "t-province"),
    "overview: not logged in": ("overview_page", {"org": "P43"}, None),
    "monitor: refresh inf": ("monitor_page", {"refresh": "inf"}, "t-province"),
    "monitor: refresh nan": ("monitor_page", {"refresh": "nan"}, "t-province"),
    "monitor: refresh 0": ("monitor_page", {"refresh": "0"}, "t-province"),
    "monitor: refresh -1": ("monitor_page", {"refresh": "-1"}, "t-province"),
    "monitor: refresh words": ("monitor_page", {"refresh": "often"}, "t-province"),
    "monitor: refresh 1e9": ("monitor_page", {"refresh": "1e9"}, "t-province"),
    "monitor: org of another county": ("monitor_page", {"org": "D430181"}, "t-changsha-county"),
    "monitor: the auditor (no business data)": ("monitor_page", {}, "t-auditor"),
    "overview: the system administrator (no business data)": ("overview_page", {}, "t-sysadmin"),
    "disclosure: unknown region": ("disclosure_page", {"org": "E430121-01"}, None),
    "disclosure: period 1999": ("disclosure_page", {"period": "1999"}, None),
    "disclosure: lang with a script": ("disclosure_page", {"lang": "<script>x</script>"}, None),
}
for _name, _spec in PAGE_CASES.items():
    case("pages", _name)(_page(*_spec))


# ------------------------------------------------------------------------------------ the run
def _state(lake_dir: Path) -> tuple:
    with Lake.open(lake_settings(lake_dir), read_only=True) as lake:
        files = sorted((str(p.relative_to(lake_dir)), p.stat().st_size) for p in lake_dir.rglob("*.parquet"))
        return lake.snapshot_id(), lake.checksums(), files


@pytest.fixture(scope="module")
def corpus_lake(small_demo_lake, tmp_path_factory):
    target = tmp_path_factory.mktemp("corpus") / "lake"
    copy_lake(small_demo_lake, target)
    (target.parent / "empty").mkdir()
    return target


def test_the_corpus_is_large_and_spans_every_surface():
    counts = Counter(c.surface for c in CASES)
    assert len(CASES) >= 80 and set(counts) == {"writer", "cli", "files", "pages", "registry"}, counts
    assert len({(c.surface, c.name) for c in CASES}) == len(CASES), "case names must be unique"


def test_bad_inputs_are_refused_clearly_and_change_nothing(corpus_lake, capsys):
    outcomes: dict[str, list[str]] = {CLEAR: [], CRYPTIC: [], ACCEPTED: [], CORRUPTED: []}
    details = {}
    before = _state(corpus_lake)
    for c in CASES:
        label = f"{c.surface}: {c.name}"
        try:
            refusal = c.run(corpus_lake)
            outcome = CLEAR if refusal else ACCEPTED
            details[label] = (refusal or "")[:300]
        except (LakeError, SettingsError) as error:  # a clear error that escaped the case's own handling
            outcome, details[label] = CLEAR, str(error)[:300]
        except Exception as error:  # noqa: BLE001 - anything else is the finding
            outcome, details[label] = CRYPTIC, f"{type(error).__name__}: {str(error)[:300]}"
        try:
            after = _state(corpus_lake)
        except Exception as error:  # noqa: BLE001
            after = f"the lake no longer opens: {error}"
        if after != before:
            outcome = CORRUPTED
            before = after if not isinstance(after, str) else before
        outcomes[outcome].append(label)
    tally = {k: len(v) for k, v in outcomes.items()}
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "bad_input_tally.json").write_text(json.dumps(
        {"tally": tally, "cases": {k: v for k, v in outcomes.items() if k != CLEAR}, "messages": details},
        indent=2, ensure_ascii=False))
    with capsys.disabled():  # the tally is printed in every run, not only when the test fails
        print(f"\nbad-input corpus: {len(CASES)} cases: " + ", ".join(f"{k} {v}" for k, v in tally.items()))
        for outcome in (CRYPTIC, ACCEPTED, CORRUPTED):
            for label in outcomes[outcome]:
                print(f"  {outcome}: {label}: {details.get(label, '')[:200]}")
    assert tally[ACCEPTED] == 0 and tally[CORRUPTED] == 0 and tally[CRYPTIC] == 0, tally
