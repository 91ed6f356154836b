"""``carbon factors list|add|seed``: the factor library the accounts use (a face over
:mod:`carbonlib.accounting.factor_library`)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from ..lake.schema import EMISSION_FACTOR_KINDS
from .auth import acting
from .common import JsonOption, LakeOption, choice, clean_errors, open_lake, say, settings_from, t, typer_app

factors_app = typer_app("help_factors")


@factors_app.command("list", help=t("help_factors_list"))
def listing(lake: LakeOption = None,
            year: Annotated[Optional[int], typer.Option("--year", help=t("opt_factors_year"))] = None,
            kind: Annotated[Optional[str], typer.Option("--kind", help=t("opt_factor_kind_filter"))] = None,
            as_json: JsonOption = False) -> None:
    """The rows in force (``--year``) or every row of the lake."""
    import pandas as pd

    from ..accounting.factor_library import FactorLibrary

    with open_lake(settings_from(lake), read_only=True) as opened, clean_errors():
        rows = opened.read("emission_factor")
        if year is not None:
            library = FactorLibrary.of_lake(opened, year)
            rows = rows[rows.factor_id.isin(library.in_force_ids())]
    if kind:
        rows = rows[rows.kind == kind]
    rows = rows.sort_values(["kind", "subject", "series", "factor_id"], ignore_index=True)
    if as_json:
        typer.echo(rows.to_json(orient="records", force_ascii=False, indent=2))
        return
    for row in rows.itertuples():
        say("factor_line", id=row.factor_id, value=f"{row.value:g}", unit=row.unit,
            effective="" if pd.isna(row.effective_year) else t("factor_from_year", year=int(row.effective_year)))
    say("factor_count", count=len(rows))


@factors_app.command("add", help=t("help_factors_add"))
def add(
    kind: Annotated[str, typer.Option("--kind", callback=choice(EMISSION_FACTOR_KINDS),
                                      help=t("opt_factor_kind", choices=", ".join(EMISSION_FACTOR_KINDS)))],
    subject: Annotated[str, typer.Option("--subject", help=t("opt_factor_subject"))],
    series: Annotated[str, typer.Option("--series", help=t("opt_factor_series"))],
    value: Annotated[float, typer.Option("--value", help=t("opt_factor_value"))],
    unit: Annotated[str, typer.Option("--unit", help=t("opt_factor_unit"))],
    source: Annotated[str, typer.Option("--source", help=t("opt_factor_source"))],
    effective_year: Annotated[int, typer.Option("--effective-year", help=t("opt_factor_effective_year"))],
    data_year: Annotated[Optional[int], typer.Option("--data-year", help=t("opt_factor_data_year"))] = None,
    verified: Annotated[bool, typer.Option("--verified", help=t("opt_factor_verified"))] = False,
    uncertainty_pct: Annotated[Optional[float], typer.Option("--uncertainty-pct",
                                                             help=t("opt_factor_uncertainty"))] = None,
    lake: LakeOption = None,
) -> None:
    from ..accounting import factor_library

    settings = settings_from(lake)
    with acting(settings) as (security, principal), clean_errors():
        row = factor_library.add_factor(security, principal, settings, kind=kind, subject=subject, series=series,
                                        value=value, unit=unit, source=source, effective_year=effective_year,
                                        data_year=data_year, verified=verified, uncertainty_pct=uncertainty_pct)
    say("factor_added", id=row.factor_id, year=effective_year)


@factors_app.command("seed", help=t("help_factors_seed"))
def seed(lake: LakeOption = None) -> None:
    from ..accounting import factor_library

    with open_lake(settings_from(lake)) as opened, clean_errors():
        say("factors_seeded", count=factor_library.seed(opened))
