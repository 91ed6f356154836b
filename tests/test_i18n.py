"""The one zh/en message catalogue (carbonlib.i18n): complete, unambiguous, and the only one.

Checked on the source itself: no key is written twice in the catalogue (a later duplicate
would silently win), every entry has a Chinese and an English text, and no other module of
carbonlib keeps a (zh, en) phrase table of its own.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import carbonlib
from carbonlib import i18n
from carbonlib.reporting import reports
from carbonlib.viz import charts

PACKAGE = Path(carbonlib.__file__).parent
CJK = re.compile(r"[\u4e00-\u9fff]")


def test_every_key_once_with_both_languages():
    keys = []
    for module, name in (("__init__.py", "MESSAGES"), ("cli.py", "CLI_MESSAGES")):  # the command line's part apart
        tree = ast.parse((PACKAGE / "i18n" / module).read_text(encoding="utf-8"))
        catalogue = next(node.value for node in ast.walk(tree)
                         if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == name)
        keys += [key.value for key in catalogue.keys if key is not None]  # None: the ** of the CLI part
    assert len(keys) == len(set(keys)), sorted({k for k in keys if keys.count(k) > 1})
    for key, (zh, en) in i18n.MESSAGES.items():
        if key.endswith("_line") and not zh:  # a report section without a line of explanation
            assert not en, key
            continue
        assert CJK.search(zh), f"{key}: no Chinese text in {zh!r}"
        assert en and not CJK.search(en), f"{key}: English text {en!r}"


def test_no_module_keeps_its_own_phrase_table():
    tables = []
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name == "i18n":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Dict):
                pairs = [v for v in node.values if isinstance(v, ast.Tuple) and len(v.elts) == 2
                         and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in v.elts)
                         and CJK.search(v.elts[0].value)]
                if len(pairs) >= 2:
                    tables.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not tables, f"zh/en phrase tables outside carbonlib.i18n: {tables}"


def test_reports_charts_and_pages_read_the_catalogue():
    assert reports.text("checksum", "en") == "figures checksum (SHA-256)"  # report wording
    assert reports.text("net", "zh") == i18n.label("net", "zh") == "净排放"  # shared item name
    assert charts._t("period", "en") == "Period" and reports.text("period", "en") == "period"  # own wordings
    assert i18n.label("ui_screen", "zh") == "碳源碳汇监测大屏" and i18n.label("NEE", "en") == "Net ecosystem exchange"
    assert i18n.label("not-a-key", "en") == "not-a-key"
    with pytest.raises(ValueError, match="language must be one of"):
        i18n.label("net", "fr")
    with pytest.raises(ValueError, match="no report section 'nonsense'"):
        reports.section("nonsense", "en")
