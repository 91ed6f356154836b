"""No value reaches SQL text except through bound parameters or the one quoting helper.

DuckDB runs several statements from one string, so an org id pasted into an ``IN ('…')``
list once let ``carbon reports run`` write any file (hardening issue, finding 1).  This test
reads every module of ``carbonlib`` and, in each f-string that holds SQL, allows only these
interpolations:

* the quoting helpers of :mod:`carbonlib.lake.sql` (``literal``, ``ident``, ``marks``) and
  functions that return SQL built from safe parts (their own f-strings are checked too);
* constants (``CATALOG``, ``_BATCH``: UPPER_CASE names);
* schema names: ``.name`` / ``.type`` of a table or column definition (checked against the
  identifier pattern in :mod:`carbonlib.lake.schema`), and SQL fragments held in variables
  whose names end in ``sql`` or that the module builds itself (listed below with the reason).

A new interpolation fails this test until it is one of those.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import carbonlib
from carbonlib.lake.schema import METRICS, TABLES
from carbonlib.lake.sql import ident, literal, marks

PACKAGE = Path(carbonlib.__file__).parent
SQL_WORDS = re.compile(r"\b(SELECT|INSERT|DELETE|UPDATE|ATTACH|INSTALL|LOAD|CREATE|ALTER|DROP|FROM|WHERE|JOIN|"
                       r"UNION|SET|USE|COPY|PRAGMA|CALL)\b")
#: Calls whose result may go into SQL text: the quoting helpers and builders of SQL fragments.
SAFE_CALLS = {"literal", "ident", "marks", "relation", "int", "len",
              # fragment builders whose own f-strings this test checks
              "_typed", "_typed_select", "_raw", "_existing_filter", "_stale_rows", "_changes", "_case", "_in", "files",
              "_reason_sql", "_org_filter", "activity_status_sql", "activity_effective_sql"}
#: Bases whose attributes are schema definitions (names checked in test_schema_names_are_plain_identifiers).
SCHEMA_OBJECTS = {"c", "col", "column", "table", "t", "definition", "m", "rule", "check"}
SCHEMA_ATTRIBUTES = {"name", "type", "key", "column_names", "partition_sql", "field", "condition", "shown"}
#: Variables holding SQL text a module builds itself from schema names, constants and helpers.
#: ``where`` is the one place callers pass SQL: an analyst's condition with ``?`` marks for
#: values (Lake.read, views, the Intake reader); Lake.query runs a single statement only.
FRAGMENTS = {
    "lake/writer.py": {"key", "same", "in_group", "same_key", "fields", "known", "typed", "low", "high", "cases",
                       "any_bad", "every", "suspects", "stale_rows", "columns", "ref_col", "ref_table", "whole",
                       "controls", "c", "raw"},
    "lake/connection.py": {"cols", "options", "name", "where"},
    "lake/schema.py": {"cols", "whens", "column"},
    "lake/migrations.py": {"added"},  # constant ALTER TABLE clauses of a migration step
    "lake/integrity.py": {"kind"},
    "catalog_readers.py": {"where"},
    "accounting/views.py": {"filter_", "org", "activity", "review", "entries", "where"},
    "ledger/service.py": {"live"},  # quoted constants of the workflow
    "accounting/accounts.py": {"metrics", "towers", "products", "items"},
    "accounting/tower_sinks.py": {"values"},
    "viz/data.py": {"daily"},
    "security/audit.py": {"conditions", "where"},  # conditions: constant "column = ?" texts, values bound
    "security/store.py": {"serial"},  # the primary-key clause of the store's dialect
    "registry/store.py": {"serial", "name"},  # the same; the blocks table's name (blocks_v2 while it is rebuilt)
    # free: a constant condition; conditions: constant "column = ?" texts (values bound); where: built from them
    "registry/book.py": {"free", "conditions", "where"},
}


def _sql_fstrings(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
            if SQL_WORDS.search(text):
                yield node


def _safe(expr: ast.expr, fragments: set[str]) -> bool:
    if isinstance(expr, ast.Call):
        func = expr.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name == "join" and isinstance(func, ast.Attribute) and isinstance(func.value, ast.Constant):
            return all(_safe_iterable(a, fragments) for a in expr.args)
        return name in SAFE_CALLS
    if isinstance(expr, ast.Name):
        return bool(re.fullmatch(r"_?[A-Z][A-Z0-9_]*", expr.id)) or expr.id.endswith("sql") or expr.id in fragments
    if isinstance(expr, ast.Attribute):
        if re.fullmatch(r"_?[A-Z][A-Z0-9_]*", expr.attr):
            return True
        return (expr.attr in SCHEMA_ATTRIBUTES and isinstance(expr.value, ast.Name)
                and expr.value.id in SCHEMA_OBJECTS)
    if isinstance(expr, ast.Subscript):  # table.key[-1] and the like
        return _safe(expr.value, fragments)
    if isinstance(expr, ast.IfExp):
        return _safe(expr.body, fragments) and _safe(expr.orelse, fragments)
    if isinstance(expr, ast.BoolOp):  # check.shown or check.field
        return all(_safe(v, fragments) for v in expr.values)
    if isinstance(expr, ast.Constant):
        return True
    return False


def _safe_iterable(expr: ast.expr, fragments: set[str]) -> bool:
    """An iterable joined into SQL: a generator or list of safe items, or a safe name."""
    if isinstance(expr, (ast.GeneratorExp, ast.ListComp)):
        return all(_safe(v, fragments | {t.id for g in expr.generators for t in ast.walk(g.target)
                                          if isinstance(t, ast.Name)})
                   for v in ([expr.elt] if not isinstance(expr.elt, ast.JoinedStr) else
                             [x.value for x in expr.elt.values if isinstance(x, ast.FormattedValue)]))
    return _safe(expr, fragments)


def unsafe_interpolations() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        fragments = FRAGMENTS.get(rel, set())
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in _sql_fstrings(tree):
            for value in node.values:
                if isinstance(value, ast.FormattedValue) and (value.conversion != -1 or not _safe(value.value, fragments)):
                    found.append(f"{rel}:{value.lineno}: {{{ast.unparse(value.value)}}}")
    return found


def test_sql_fstrings_interpolate_only_helpers_constants_and_schema_names():
    found = unsafe_interpolations()
    assert not found, ("SQL built from values (bind them as ? parameters, or quote with carbonlib.lake.sql):\n"
                       + "\n".join(found))


def test_the_checker_catches_a_value_pasted_into_sql(tmp_path, monkeypatch):
    bad = tmp_path / "carbonlib"
    bad.mkdir()
    (bad / "bad.py").write_text('def f(con, org_id):\n    return con.execute(f"SELECT * FROM org WHERE org_id = \'{org_id}\'")\n')
    monkeypatch.setattr(__import__(__name__), "PACKAGE", bad)
    assert unsafe_interpolations() == ["bad.py:2: {org_id}"]


def test_schema_names_are_plain_identifiers():
    for table in TABLES.values():
        ident(table.name)
        for column in table.columns:
            ident(column.name)
    for metric in METRICS:
        assert literal(metric) == f"'{metric}'"


@pytest.mark.parametrize("value, quoted", [("P43", "'P43'"), ("x'); COPY (SELECT 1) TO '/tmp/x'; --",
                                                                  "'x''); COPY (SELECT 1) TO ''/tmp/x''; --'")])
def test_literal_doubles_quotes(value, quoted):
    assert literal(value) == quoted


@pytest.mark.parametrize("name", ["a b", "x;DROP", "", "1abc", "é", "a" * 64])
def test_ident_refuses_anything_but_a_plain_name(name):
    with pytest.raises(ValueError, match="not a plain SQL identifier"):
        ident(name)


def test_literal_refuses_nul_and_marks_counts():
    with pytest.raises(ValueError, match="NUL"):
        literal("a\x00b")
    assert marks(["a", "b", "c"]) == "?, ?, ?"
    with pytest.raises(ValueError):
        marks([])
