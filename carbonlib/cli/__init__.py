"""The ``carbon`` command line (console script; also ``python -m carbonlib``).

One module per verb group, each a thin Typer app over one capability: :mod:`.demo`,
:mod:`.lake` (and ``carbon schema``), :mod:`.accounts`, :mod:`.reports` (reports and
pipelines), :mod:`.dashboards`, :mod:`.security` (``login``, ``security``, ``audit``) and
:mod:`.backup`, :mod:`.health`, :mod:`.ingest`, :mod:`.devices`, :mod:`.alerts`, :mod:`.ledger`,
:mod:`.factors` and :mod:`.registry`;
:mod:`.auth` resolves who runs a command.

Exit codes: 0 success, 1 the operation failed (message says what and the fix),
2 wrong usage (unknown option, bad value).  Help and messages are in zh or en
(``$CARBON_LANG``, else the locale: :func:`carbonlib.i18n.cli_language`).
"""

from __future__ import annotations

import typer

from ..i18n import cli_language
from .accounts import accounts_app
from .alerts import alerts_app
from .backup import backup_app
from .common import t, typer_app
from .dashboards import dashboards_app
from .health import health
from .ingest import ingest_app
from .demo import demo_app
from .devices import devices_app
from .factors import factors_app
from .lake import lake_app, schema
from .ledger import ledger_app
from .orgs import orgs_app
from .registry import registry_app
from .reports import pipelines_app, reports_app
from .security import audit_app, login, logout, password, security_app, whoami

app = typer_app("help_app", add_completion=False)


@app.callback()
def _language_is_valid() -> None:
    try:
        cli_language()
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="$CARBON_LANG") from None


app.add_typer(demo_app, name="demo")
app.add_typer(lake_app, name="lake")
app.add_typer(accounts_app, name="accounts")
app.add_typer(reports_app, name="reports")
app.add_typer(pipelines_app, name="pipelines")
app.add_typer(dashboards_app, name="dashboards")
app.add_typer(security_app, name="security")
app.add_typer(audit_app, name="audit")
app.add_typer(backup_app, name="backup")
app.add_typer(ingest_app, name="ingest")
app.add_typer(devices_app, name="devices")
app.add_typer(alerts_app, name="alerts")
app.add_typer(ledger_app, name="ledger")
app.add_typer(factors_app, name="factors")
app.add_typer(registry_app, name="registry")
app.add_typer(orgs_app, name="orgs")
app.command("schema", help=t("help_schema"))(schema)
app.command("health", help=t("help_health"))(health)
app.command("login", help=t("help_login"))(login)
app.command("logout", help=t("help_logout"))(logout)
app.command("whoami", help=t("help_whoami"))(whoami)
app.command("password", help=t("help_password"))(password)
