"""``carbon orgs list|history|create|rename|move|close``: organisation master data with dated history (a face
over :mod:`carbonlib.ledger.orgs`)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from ..lake.schema import INDUSTRIES, LEVEL_KINDS
from .auth import acting
from .common import (JsonOption, LakeOption, choice, clean_errors, iso_date, language, open_lake, say, settings_from, t,
                     typer_app)

orgs_app = typer_app("help_orgs")

OrgArgument = Annotated[str, typer.Argument(help=t("arg_org_id"))]
EffectiveOption = Annotated[str, typer.Option("--from", callback=iso_date, help=t("opt_org_effective"))]
ReasonOption = Annotated[str, typer.Option("--reason", help=t("opt_org_reason"))]


@orgs_app.command("list", help=t("help_orgs_list"))
def listing(lake: LakeOption = None,
            as_of: Annotated[Optional[str], typer.Option("--as-of", callback=iso_date, help=t("opt_org_as_of"))] = None,
            as_json: JsonOption = False) -> None:
    import pandas as pd

    from ..accounting import views

    with open_lake(settings_from(lake), read_only=True) as opened, clean_errors():
        tree = views.org_tree(opened, as_of=as_of)
    if as_json:
        typer.echo(tree.to_json(orient="records", date_format="iso", force_ascii=False, indent=2))
        return
    for row in tree.itertuples():
        closed = "" if pd.isna(row.closed_on) else t("org_closed_on", day=f"{row.closed_on:%Y-%m-%d}")
        say("org_line", indent="  " * int(row.depth), id=row.org_id, level=row.level,
            name=row.name_zh if language() == "zh" else row.name_en, closed=closed)


@orgs_app.command("history", help=t("help_orgs_history"))
def history(org: OrgArgument, lake: LakeOption = None, as_json: JsonOption = False) -> None:
    from ..accounting import views

    with open_lake(settings_from(lake), read_only=True) as opened, clean_errors():
        rows = views.org_history(opened, org)
    if as_json:
        typer.echo(rows.to_json(orient="records", date_format="iso", force_ascii=False, indent=2))
        return
    for row in rows.itertuples():
        what = {"rename": f"{row.name_zh} / {row.name_en}", "move": row.parent_id, "close": ""}[row.change]
        say("org_change_line", day=f"{row.effective_from:%Y-%m-%d}", change=row.change, what=what,
            by=row.changed_by, reason=row.reason)
    say("org_change_count", count=len(rows))


@orgs_app.command("rename", help=t("help_orgs_rename"))
def rename(org: OrgArgument, name_zh: Annotated[str, typer.Option("--name-zh", help=t("opt_org_name_zh"))],
           name_en: Annotated[str, typer.Option("--name-en", help=t("opt_org_name_en"))],
           effective: EffectiveOption, reason: ReasonOption, lake: LakeOption = None) -> None:
    from ..ledger import orgs

    settings = settings_from(lake)
    with acting(settings) as (security, principal), clean_errors():
        orgs.rename(security, principal, settings, org, name_zh=name_zh, name_en=name_en, effective_from=effective,
                    reason=reason)
    say("org_changed", id=org, change="rename", day=effective)


@orgs_app.command("move", help=t("help_orgs_move"))
def move(org: OrgArgument, parent: Annotated[str, typer.Option("--parent", help=t("opt_org_parent"))],
         effective: EffectiveOption, reason: ReasonOption, lake: LakeOption = None) -> None:
    from ..ledger import orgs

    settings = settings_from(lake)
    with acting(settings) as (security, principal), clean_errors():
        orgs.move(security, principal, settings, org, parent_id=parent, effective_from=effective, reason=reason)
    say("org_changed", id=org, change="move", day=effective)


@orgs_app.command("close", help=t("help_orgs_close"))
def close(org: OrgArgument, effective: EffectiveOption, reason: ReasonOption, lake: LakeOption = None) -> None:
    from ..ledger import orgs

    settings = settings_from(lake)
    with acting(settings) as (security, principal), clean_errors():
        orgs.close(security, principal, settings, org, effective_from=effective, reason=reason)
    say("org_changed", id=org, change="close", day=effective)


@orgs_app.command("create", help=t("help_orgs_create"))
def create(org: OrgArgument, parent: Annotated[str, typer.Option("--parent", help=t("opt_org_parent"))],
           level: Annotated[str, typer.Option("--level", callback=choice(tuple(LEVEL_KINDS)),
                                              help=t("opt_org_level", choices=", ".join(LEVEL_KINDS)))],
           kind: Annotated[str, typer.Option("--kind", help=t("opt_org_kind"))],
           name_zh: Annotated[str, typer.Option("--name-zh", help=t("opt_org_name_zh"))],
           name_en: Annotated[str, typer.Option("--name-en", help=t("opt_org_name_en"))],
           region_code: Annotated[str, typer.Option("--region-code", help=t("opt_org_region_code"))],
           effective: EffectiveOption, reason: ReasonOption,
           industry: Annotated[Optional[str], typer.Option("--industry", callback=choice(INDUSTRIES),
                                                           help=t("opt_org_industry", choices=", ".join(INDUSTRIES)))] = None,
           area_ha: Annotated[Optional[float], typer.Option("--area-ha", help=t("opt_org_area"))] = None,
           lake: LakeOption = None) -> None:
    from ..ledger import orgs

    settings = settings_from(lake)
    with acting(settings) as (security, principal), clean_errors():
        orgs.create(security, principal, settings, orgs.NewOrg(
            org, parent, level, kind, name_zh, name_en, region_code, effective, industry=industry,
            area_ha=area_ha), reason=reason)
    say("org_changed", id=org, change="create", day=effective)
