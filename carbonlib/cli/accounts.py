"""``carbon accounts build|refresh|caps``: the accounting service on the command line.

Wired into the main CLI with ``app.add_typer(accounts_app, name="accounts")``.
Exit codes as :mod:`carbonlib.cli`: 0 success, 1 the operation failed, 2 wrong usage.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Optional

import typer

from .auth import acting
from ..lake.schema import CAP_REQUEST_KINDS
from .common import (CatalogOption, DataOption, JsonOption, LakeOption, choice, clean_errors, open_lake, say,
                     settings_from, t, typer_app)

accounts_app = typer_app("help_accounts")


@accounts_app.command("build", help=t("help_accounts_build"))
def build(
    lake: LakeOption = None, catalog: CatalogOption = None, data_path: DataOption = None,
    year: Annotated[Optional[list[int]], typer.Option("--year", help=t("opt_year_build"))] = None,
    cluster: Annotated[Optional[str], typer.Option("--cluster", help=t("opt_cluster_accounts"))] = None,
) -> None:
    from ..accounting import accounts, service

    settings = settings_from(lake, catalog, data_path)
    with acting(settings) as (security, principal), clean_errors():
        result = service.build(security, principal, settings, year or None, cluster=cluster)
    say("accounts_built", method=accounts.METHOD_VERSION, inserted=result.inserted, skipped=result.skipped)


@accounts_app.command("refresh", help=t("help_accounts_refresh"))
def refresh(lake: LakeOption = None, catalog: CatalogOption = None, data_path: DataOption = None) -> None:
    from ..accounting import service

    settings = settings_from(lake, catalog, data_path)
    with acting(settings) as (security, principal), clean_errors():
        result = service.refresh(security, principal, settings)
    say("accounts_refreshed", reason=result.reason, first=result.from_snapshot, last=result.to_snapshot,
        periods=len(result.recomputed), written=result.rows_written, deleted=result.rows_deleted)


@accounts_app.command("caps", help=t("help_accounts_caps"))
def caps(
    year: Annotated[int, typer.Option(help=t("opt_cap_year"))],
    lake: LakeOption = None, catalog: CatalogOption = None, data_path: DataOption = None,
    org: Annotated[Optional[str], typer.Option(help=t("opt_cap_org"))] = None,
    as_of: Annotated[Optional[str], typer.Option("--as-of", help=t("opt_as_of"))] = None,
    offset_limit: Annotated[float, typer.Option(help=t("opt_offset_limit"))] = 0.05,
    as_json: JsonOption = False,
) -> None:
    from ..accounting import caps as cap_checks

    try:
        cut_off = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        raise typer.BadParameter(t("give_date"), param_hint="--as-of") from None
    with open_lake(settings_from(lake, catalog, data_path), read_only=True) as opened, clean_errors():
        if org:
            report = [cap_checks.cap_status(opened, org, year, as_of=cut_off, offset_limit=offset_limit).__dict__]
        else:
            report = cap_checks.cap_report(opened, year, as_of=cut_off, offset_limit=offset_limit).to_dict("records")
    if as_json:
        typer.echo(json.dumps(report, default=str, indent=2))
        return
    for row in report:
        typer.secho(_cap_line(row), fg=typer.colors.RED if row["alert"] else None)


def _cap_line(row: dict) -> str:
    """One cap position in the command line's language (the fields of :class:`~carbonlib.accounting.caps.CapStatus`)."""
    method = row["projection_method"]
    word = (t("cap_actual") if method == "actual" else t("cap_projected_days") if method == "days"
            else t("cap_projected_seasonal", year=row["year"] - 1))
    if not row["alert"]:
        return t("cap_within", org=row["org_id"], year=row["year"], word=word, projected=row["projected"], cap=row["cap"])
    return t("cap_over", org=row["org_id"], year=row["year"], word=word, projected=row["projected"], cap=row["cap"],
             shortfall=row["shortfall"], allowed=row["offset_allowed"], limit=row["offset_limit"],
             retired=row["credits_retired"], used=row["offset_used"], deficit=row["deficit"]) \
        + (t("cap_buy") if row["deficit"] > 0 else "")


@accounts_app.command("cap-request", help=t("help_cap_request"))
def cap_request(
    org: Annotated[str, typer.Option("--org", help=t("opt_cap_request_org"))],
    year: Annotated[int, typer.Option("--year", help=t("opt_cap_year"))],
    kind: Annotated[str, typer.Option("--kind", callback=choice(CAP_REQUEST_KINDS),
                                      help=t("opt_cap_kind", choices=", ".join(CAP_REQUEST_KINDS)))],
    amount: Annotated[float, typer.Option("--amount", help=t("opt_cap_amount"))],
    reason: Annotated[str, typer.Option("--reason", help=t("opt_cap_reason"))],
    evidence: Annotated[str, typer.Option("--evidence", help=t("opt_cap_evidence"))],
    lake: LakeOption = None,
) -> None:
    from ..accounting import cap_requests

    settings = settings_from(lake)
    with acting(settings) as (security, principal), clean_errors():
        row = cap_requests.request(security, principal, settings,
                                   cap_requests.CapRequest(org, year, kind, amount, reason, evidence))
    say("cap_requested", id=row.name, kind=row.kind, amount=f"{row.amount_tco2e:+,.1f}", org=row.org_id, year=row.year)


@accounts_app.command("cap-decide", help=t("help_cap_decide"))
def cap_decide(
    request_id: Annotated[str, typer.Argument(help=t("arg_cap_request"))],
    comment: Annotated[str, typer.Option("--comment", help=t("opt_cap_comment"))],
    grant: Annotated[bool, typer.Option("--grant/--refuse", help=t("opt_cap_grant"))] = True,
    amount: Annotated[Optional[float], typer.Option("--amount", help=t("opt_cap_granted"))] = None,
    lake: LakeOption = None,
) -> None:
    from ..accounting import cap_requests

    settings = settings_from(lake)
    with acting(settings) as (security, principal), clean_errors():
        row = cap_requests.decide(security, principal, settings, request_id, grant=grant, comment=comment,
                                  amount_tco2e=amount)
    say("cap_decided", id=row.name, decision=row.decision, amount=f"{row.granted_tco2e:+,.1f}")


@accounts_app.command("cap-requests", help=t("help_cap_requests"))
def cap_requests_list(lake: LakeOption = None, as_json: JsonOption = False) -> None:
    from ..accounting import cap_requests

    with open_lake(settings_from(lake), read_only=True) as opened, clean_errors():
        found = cap_requests.requests(opened)
    if as_json:
        typer.echo(found.to_json(orient="records", date_format="iso", force_ascii=False, indent=2))
        return
    for row in found.itertuples():
        say("cap_request_line", id=row.request_id, org=row.org_id, year=row.year, kind=row.kind,
            amount=f"{row.amount_tco2e:+,.1f}", decision=row.decision if isinstance(row.decision, str) else "-")
