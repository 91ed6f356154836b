"""Bulk ledger entry: a template with pick-lists, and an import that takes a whole file or nothing.

``carbon ledger template`` writes :data:`COLUMNS` as an XLSX workbook (sheet ``ledger`` with
drop-down lists for org, category, activity type and unit, a ``lists`` sheet they come from and a
``help`` sheet in Chinese and English) or as a CSV header.  ``carbon ledger import FILE`` reads it
back (header checked first: a moved, renamed, missing or extra column is refused by name) and
checks every row at once, vectorised: org (known, and one the officer enters for), period (a
month ``2026-01`` or a year ``2026``, not in the future), category, activity type and unit (what
the accounts can compute, :mod:`carbonlib.ledger.catalogue`), amount (a number above 0 within the
lake's plausibility limit per unit), voucher, duplicates (in the file, and against live entries of
the lake), and finally whether the accounts can compute the entry.  Any bad row: every bad row is
reported with its spreadsheet line and field and nothing is written.  Otherwise every entry is
written and submitted for review in two writes, audited once per org.
"""

from __future__ import annotations

import secrets
import warnings
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from ..accounting import accounts, views
from ..accounting.factor_library import FactorLibrary
from ..i18n import label
from ..lake import Lake
from ..lake.schema import ACTIVITY_AMOUNT_LIMITS, ACTIVITY_CATEGORIES, CATEGORY_UNITS
from ..lake.sql import literal
from ..security import Principal, Security
from ..settings import Settings
from . import catalogue
from .orgs import lifetimes as lifetimes_of
from .orgs import outside_lifetime
from .service import SERVICE, _refresh_accounts
from .workflow import LIVE_STATUSES, review_id

#: Template columns, in order.
COLUMNS = ("org_id", "period", "category", "activity_type", "amount", "unit", "evidence_ref", "comment")
#: Rows a template's drop-down lists cover (Excel applies a validation to a range).
TEMPLATE_ROWS = 5000
#: Columns naming one source and period: two live entries may not share them.
_SOURCE_KEY = ("org_id", "category", "activity_type", "period_start", "period_end")
#: Bad rows listed at most in the refusal (the count says how many there were).
MAX_LISTED = 200


@dataclass(frozen=True)
class BadRow:
    """One problem: spreadsheet ``line`` (the header is line 1), ``field`` and what is wrong."""

    line: int
    field: str
    problem: str

    def __str__(self) -> str:
        return f"line {self.line}, {self.field}: {self.problem}"


class ImportRefused(ValueError):
    """A ledger file with bad rows: nothing was written; ``problems`` lists every one (line, field, problem)."""

    def __init__(self, path: str, problems: list[BadRow], rows: int):
        self.problems = problems
        shown = "\n".join(f"  {p}" for p in problems[:MAX_LISTED])
        more = f"\n  … and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        bad_lines = len({p.line for p in problems})
        super().__init__(f"{path}: {bad_lines} of {rows} rows are not accepted, so nothing was written. Fix these "
                         f"and import the whole file again:\n{shown}{more}")


@dataclass(frozen=True)
class ImportResult:
    """What an import wrote: entries submitted for review, per org."""

    entries: int
    per_org: dict[str, int]
    first_entry: str
    last_entry: str


# ---------------------------------------------------------------------------------------------- template
def _lists(lake: Lake, orgs: list[str]) -> dict[str, list[str]]:
    allowed = {c: set(catalogue.activity_types(lake, c)) for c in ACTIVITY_CATEGORIES}
    types = sorted(set().union(*allowed.values()))
    categories = [c for c in ACTIVITY_CATEGORIES if allowed[c]]
    units = sorted({u for c in categories for u in CATEGORY_UNITS[c]})
    return {"org_id": orgs, "category": categories, "activity_type": types, "unit": units}


def write_template(lake: Lake, orgs: list[str], path: Path) -> Path:
    """Write the template for ``orgs`` to ``path`` (.xlsx with pick-lists, or .csv: the header only)."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        path.write_text(",".join(COLUMNS) + "\n", encoding="utf-8-sig")
        return path
    if path.suffix.lower() != ".xlsx":
        raise ValueError(f"{path.name}: the template is written as .xlsx (with pick-lists) or .csv")
    from openpyxl import Workbook
    from openpyxl.worksheet.datavalidation import DataValidation

    lists = _lists(lake, orgs)
    book = Workbook()
    sheet = book.active
    sheet.title = "ledger"
    sheet.append(list(COLUMNS))
    sheet.freeze_panes = "A2"
    source = book.create_sheet("lists")
    for column, (name, values) in enumerate(lists.items(), start=1):
        source.cell(1, column, name)
        for row, value in enumerate(values, start=2):
            source.cell(row, column, value)
        letter = source.cell(1, column).column_letter
        check = DataValidation(type="list", formula1=f"=lists!${letter}$2:${letter}${len(values) + 1}",
                               allow_blank=False, showErrorMessage=True)
        check.error = f"choose a {name} from the list"
        sheet.add_data_validation(check)
        target = sheet.cell(1, COLUMNS.index(name) + 1).column_letter
        check.add(f"{target}2:{target}{TEMPLATE_ROWS + 1}")
    amounts = DataValidation(type="decimal", operator="greaterThan", formula1="0", showErrorMessage=True)
    amounts.error = "the amount is a number above 0"
    sheet.add_data_validation(amounts)
    amounts.add(f"E2:E{TEMPLATE_ROWS + 1}")
    helper = book.create_sheet("help")
    for column in COLUMNS:
        helper.append([column, label(f"template_{column}", "zh"), label(f"template_{column}", "en")])
    for width, letter in ((14, "A"), (10, "B"), (24, "C"), (18, "D"), (14, "E"), (10, "F"), (22, "G"), (30, "H")):
        sheet.column_dimensions[letter].width = width
    book.save(path)
    return path


# ---------------------------------------------------------------------------------------------- reading
def read_file(path: Path) -> pd.DataFrame:
    """The rows of a ledger file as text (XLSX sheet ``ledger`` or its first sheet; CSV in UTF-8), header checked."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".xlsx":
            from openpyxl import load_workbook

            book = load_workbook(path, read_only=True, data_only=True)
            sheet = book["ledger"] if "ledger" in book.sheetnames else book.worksheets[0]
            rows = list(sheet.iter_rows(values_only=True))
            book.close()
            header = [("" if v is None else str(v)).strip() for v in (rows[0] if rows else ())]
            while header and not header[-1]:
                header.pop()
            body = [r[:len(header)] for r in rows[1:]]
            frame = pd.DataFrame(body, columns=header, dtype=object)
        elif suffix in (".csv", ".txt"):
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
            header = list(frame.columns)
        else:
            raise ValueError(f"{path.name}: a ledger file is .xlsx or .csv (from carbon ledger template)")
    except (OSError, UnicodeDecodeError, KeyError, pd.errors.ParserError) as error:
        raise ValueError(f"{path.name}: cannot be read as a ledger file ({error})") from None
    if tuple(header) != COLUMNS:
        missing = [c for c in COLUMNS if c not in header]
        extra = [c for c in header if c not in COLUMNS]
        moved = [c for i, c in enumerate(header) if c in COLUMNS and (i >= len(COLUMNS) or COLUMNS[i] != c)]
        details = "; ".join(part for part in (f"missing {', '.join(missing)}" if missing else "",
                                              f"unknown {', '.join(map(repr, extra))}" if extra else "",
                                              f"out of place {', '.join(moved)}" if moved and not missing else "")
                            if part)
        raise ValueError(f"{path.name}: the header is not the template's ({details}). Expected, in this order: "
                         f"{', '.join(COLUMNS)}. Fix: copy your rows into a new `carbon ledger template`")
    if suffix == ".xlsx":  # Excel turns a typed 2026-01 into a date: read it back as the month it was
        frame["period"] = [f"{v:%Y-%m}" if isinstance(v, (datetime, date)) else v for v in frame["period"]]
    frame = frame.astype(object).where(frame.notna(), "")
    for column in frame.columns:
        frame[column] = frame[column].astype(str).str.strip()
    blank = (frame == "").all(axis=1)
    frame = frame.assign(line=np.arange(2, len(frame) + 2))[~blank.to_numpy()]
    return frame.reset_index(drop=True)


# ---------------------------------------------------------------------------------------------- checking
def _periods(text: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(ok, start, end) of 'YYYY-MM' or 'YYYY' texts, vectorised."""
    month = text.str.fullmatch(r"\d{4}-(0[1-9]|1[0-2])")
    year = text.str.fullmatch(r"\d{4}")
    start = pd.to_datetime(text.where(month, text + "-01").where(month | year, None), format="%Y-%m",
                           errors="coerce")
    end = (start + pd.offsets.MonthEnd(0)).where(month, start + pd.offsets.YearEnd(0))
    return (month | year) & start.notna(), start, end


def check_rows(lake: Lake, rows: pd.DataFrame, may_enter: set[str], today: date) -> tuple[pd.DataFrame, list[BadRow]]:
    """Every problem of ``rows`` (from :func:`read_file`) and the entries they describe (typed, with period_start
    and period_end), checked as described in the module doc."""
    problems: list[BadRow] = []

    def bad(mask: pd.Series, field: str, problem) -> None:
        for line, value in zip(rows.line[mask], rows[field][mask] if field in rows else [""] * int(mask.sum())):
            problems.append(BadRow(int(line), field, problem(value) if callable(problem) else problem))

    known_orgs = set(views.org_paths(lake))
    bad(~rows.org_id.isin(known_orgs), "org_id", lambda v: f"{v!r} is not an org of the lake")
    bad(rows.org_id.isin(known_orgs) & ~rows.org_id.isin(may_enter), "org_id",
        lambda v: f"you do not enter the ledger of {v}")
    ok_period, start, end = _periods(rows.period)
    bad(~ok_period, "period", lambda v: f"{v!r} is not a month (2026-01) or a year (2026)")
    bad(ok_period & (start > pd.Timestamp(today)), "period", lambda v: f"{v} lies in the future")
    lifetimes = lifetimes_of(lake)
    lifetime = lifetimes.reindex(rows.org_id)  # vectorised: a file may hold 50,000 rows
    opened, closed = pd.to_datetime(lifetime.opened_on).to_numpy(), pd.to_datetime(lifetime.closed_on).to_numpy()
    outside = ok_period & pd.Series((opened > end.to_numpy()) | (closed <= start.to_numpy()), index=rows.index)
    for line, org, first, last in zip(rows.line[outside], rows.org_id[outside], start[outside], end[outside]):
        why = outside_lifetime(lifetimes.loc[org], first, last)
        problems.append(BadRow(int(line), "org_id", f"{org} {why} {first:%Y-%m-%d}..{last:%Y-%m-%d}"))
    allowed = {c: set(catalogue.activity_types(lake, c)) for c in ACTIVITY_CATEGORIES}
    categories = [c for c in ACTIVITY_CATEGORIES if allowed[c]]
    bad(~rows.category.isin(categories), "category",
        lambda v: f"{v!r} is not one of {', '.join(categories)}")
    type_ok = pd.Series([t in allowed.get(c, ()) for c, t in zip(rows.category, rows.activity_type)], index=rows.index)
    bad(rows.category.isin(categories) & ~type_ok, "activity_type",
        lambda v: f"{v!r} is not an activity type of its category (see the lists sheet of the template)")
    unit_ok = pd.Series([u in CATEGORY_UNITS.get(c, ()) for c, u in zip(rows.category, rows.unit)], index=rows.index)
    bad(rows.category.isin(categories) & ~unit_ok, "unit", lambda v: f"{v!r} is not a unit of its category")
    amount = pd.to_numeric(rows.amount.str.replace(",", "", regex=False), errors="coerce")
    bad(amount.isna(), "amount", lambda v: f"{v!r} is not a number")
    bad(amount.notna() & (amount <= 0), "amount", lambda v: f"{v} is not above 0 (corrections are entered as "
                                                             "corrections, not negative amounts)")
    limit = rows.unit.map(ACTIVITY_AMOUNT_LIMITS)
    bad(amount.notna() & limit.notna() & (amount > limit), "amount",
        lambda v: f"{v} is implausibly large for one entry in its unit (check the unit)")
    bad(rows.evidence_ref == "", "evidence_ref", "is empty: give the voucher (invoice, meter reading, slip)")
    bad(rows.comment.str.len() > 2000, "comment", "is longer than 2000 characters")
    entries = rows.assign(amount=amount, period_start=start, period_end=end)
    key = list(_SOURCE_KEY)
    clean = {p.line for p in problems}
    candidates = entries[~entries.line.isin(clean)]
    repeated = candidates.duplicated(key, keep="first")
    bad(entries.line.isin(candidates.line[repeated]), "period", "repeats an earlier row of the file for the same org, "
                                                                 "category, activity type and period")
    live = lake.query(f"SELECT entry_id, {', '.join(_SOURCE_KEY)} FROM ({views.activity_status_sql(lake)}) WHERE status IN "
                      f"({', '.join(literal(s) for s in LIVE_STATUSES)}) AND reverses_entry_id IS NULL")
    live = live.assign(period_start=pd.to_datetime(live.period_start), period_end=pd.to_datetime(live.period_end))
    clash = candidates.merge(live, on=key, how="inner")
    for line, entry_id in zip(clash.line, clash.entry_id):
        problems.append(BadRow(int(line), "period", f"entry {entry_id} already stands for this source and period "
                                                    "(enter a correction of it instead)"))
    computable = entries[~entries.line.isin({p.line for p in problems})]
    if len(computable):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", accounts.LedgerEntrySkipped)
            for year, part in computable.groupby(pd.to_datetime(computable.period_start).dt.year):
                _, left_out = accounts.entry_emissions(part.assign(entry_id=part.line.astype(str)),
                                                      FactorLibrary.of_lake(lake, int(year)))
                for line, reason in zip(left_out.entry_id, left_out.reason):
                    problems.append(BadRow(int(line), "activity_type", f"the accounts cannot use it ({reason})"))
    problems.sort(key=lambda p: (p.line, COLUMNS.index(p.field) if p.field in COLUMNS else 99))
    return entries, problems


# ---------------------------------------------------------------------------------------------- importing
def import_file(security: Security, principal: Principal, settings: Settings, path: Path, *,
                refresh: bool = True) -> ImportResult:
    """Import a ledger file as ``principal`` (a data officer of every org in it): all rows, submitted for review,
    or nothing (:class:`ImportRefused` lists every bad row).  ``refresh``: bring the accounts up to date at once
    (their periods show as pending); otherwise the scheduler's accounts job does."""
    path = Path(path)
    rows = read_file(path)
    if rows.empty:
        raise ValueError(f"{path.name} has no rows below its header")
    at = datetime.now(timezone.utc).replace(tzinfo=None)
    with Lake.open(settings) as lake:
        paths = views.org_paths(lake)
        may_enter = {o for o in set(rows.org_id) if principal.may("enter_ledger", o, paths)}
        entries, problems = check_rows(lake, rows, may_enter, at.date())
        if problems:
            for org in sorted(set(rows.org_id) - may_enter):
                if org in paths:  # an audited refusal for each org the officer does not enter
                    try:
                        security.require(principal, "enter_ledger", org, paths=paths, object=f"ledger import {path.name}")
                    except PermissionError:
                        pass
            raise ImportRefused(path.name, problems, len(rows))
        tag = secrets.token_hex(3)
        ids = [f"L-{o}-{s:%Y%m}-{tag}{i:05d}" for i, (o, s) in enumerate(zip(entries.org_id, entries.period_start))]
        activity = pd.DataFrame({
            "entry_id": ids, "org_id": entries.org_id.to_numpy(), "period_start": entries.period_start.dt.date.to_numpy(),
            "period_end": entries.period_end.dt.date.to_numpy(), "category": entries.category.to_numpy(),
            "activity_type": entries.activity_type.to_numpy(), "amount": entries.amount.to_numpy(dtype=float),
            "unit": entries.unit.to_numpy(), "evidence_ref": entries.evidence_ref.to_numpy(),
            "author": principal.username, "status": "draft", "entered_at": at, "reverses_entry_id": None})
        steps = pd.DataFrame({
            "review_id": [review_id(i, 1) for i in ids], "entry_id": ids, "event": "submitted",
            "actor": principal.username, "event_time": at,
            "comment": entries.comment.where(entries.comment != "", None).to_numpy(), "related_entry_id": None})
        source = f"ledger-import/{principal.username}/{path.name}"
        for org in sorted(may_enter):
            security.record(principal, "enter_ledger", object=f"ledger import {path.name}", org_id=org,
                            outcome="started", detail=f"{int((entries.org_id == org).sum())} entries")
        lake.append("activity", activity, source=source)
        lake.service_append(SERVICE, "activity_review", steps, source=source)
        per_org = entries.org_id.value_counts().sort_index().to_dict()
        for org, count in per_org.items():
            security.record(principal, "enter_ledger", object=f"ledger import {path.name}", org_id=org,
                            detail=f"imported and submitted {count} entries ({ids[0]} .. {ids[-1]})")
        if refresh:
            _refresh_accounts(lake)
    return ImportResult(len(ids), {k: int(v) for k, v in per_org.items()}, ids[0], ids[-1])


def template_orgs(principal: Principal, settings: Settings) -> list[str]:
    """The enterprises and sites ``principal`` enters the ledger for (the template's org list)."""
    with Lake.open(settings, read_only=True) as lake:
        tree = views.org_tree(lake)
    paths = dict(zip(tree.org_id, tree.path))
    return [o for o, level in zip(tree.org_id, tree.level)
            if level in ("enterprise", "site") and principal.may("enter_ledger", o, paths)]
