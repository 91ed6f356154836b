"""``carbon alerts list|ack|check``: alerts of the monitored platform (a face over :mod:`carbonlib.alerts`)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .auth import acting
from .common import JsonOption, LakeOption, clean_errors, fail, say, settings_from, t, typer_app

alerts_app = typer_app("help_alerts")

RulesOption = Annotated[Optional[str], typer.Option("--rules", help=t("opt_alert_rules"))]


@alerts_app.command("list", help=t("help_alerts_list"))
def listing(lake: LakeOption = None, org: Annotated[Optional[str], typer.Option("--org", help=t("opt_org"))] = None,
            include_cleared: Annotated[bool, typer.Option("--all", help=t("opt_alerts_all"))] = False,
            as_json: JsonOption = False) -> None:
    from .. import alerts
    from ..alerts.notify import text
    from ..i18n import label
    from .common import language

    settings = settings_from(lake)
    with acting(settings) as (security, principal), clean_errors():
        table = alerts.open_alerts(security, principal, settings, org_id=org, include_cleared=include_cleared)
    if as_json:
        typer.echo(table.to_json(orient="records", date_format="iso", force_ascii=False, indent=2))
        return
    lang = language()
    for row in table.itertuples():
        say("alert_line", id=row.alert_id, state=label(row.state, lang, "alert"), severity=label(row.severity, lang),
            since=f"{row.opened_at:%Y-%m-%d %H:%M}", text=text({"kind": row.kind, "facts": row.facts}, lang))
    say("alerts_count", count=len(table), active=int((table.state == "active").sum()))


@alerts_app.command("ack", help=t("help_alerts_ack"))
def acknowledge(alert_id: Annotated[str, typer.Argument(help=t("arg_alert_id"))],
                note: Annotated[Optional[str], typer.Option("--note", help=t("opt_event_note"))] = None,
                lake: LakeOption = None) -> None:
    from .. import alerts

    settings = settings_from(lake)
    with acting(settings) as (security, principal), clean_errors():
        row = alerts.acknowledge(security, principal, settings, alert_id, note=note)
    say("alert_acknowledged", id=alert_id, actor=row.actor, at=f"{row.changed_at:%Y-%m-%d %H:%M}")


@alerts_app.command("check", help=t("help_alerts_check"))
def check(rules: RulesOption = None, lake: LakeOption = None) -> None:
    from .. import alerts

    settings = settings_from(lake)
    with clean_errors():
        rule_set = alerts.load_rules(rules or alerts.RULES_FILE)
    with acting(settings) as (security, principal), clean_errors():
        try:
            result = alerts.evaluate(security, principal, settings, rule_set)
        except alerts.AlertsError as error:
            fail(error)
    typer.echo(result.summary())

