"""The ``carbon`` command line speaks zh or en from the one message catalogue (issue 9: "one zh/en message
catalogue for reports, charts, dashboards and CLI messages").

Real subprocesses on the small demo lake; the language comes from ``$CARBON_LANG`` or the locale.
"""

from __future__ import annotations

import os
import re
import string
import subprocess
import sys
from pathlib import Path

import pytest

from carbonlib.i18n import MESSAGES, cli_language, message

CLI_SOURCES = sorted((Path(__file__).resolve().parents[1] / "carbonlib" / "cli").glob("*.py"))
CLI_KEYS = {key for key in MESSAGES if key.startswith("cli_")}
CJK = re.compile(r"[\u4e00-\u9fff]")


def carbon(*args: str, lang: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CARBON_LANG": lang}
    return subprocess.run([sys.executable, "-m", "carbonlib", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_cli_message_has_both_languages_with_the_same_fields():
    for key in CLI_KEYS:
        zh, en = MESSAGES[key]
        assert zh.strip() and en.strip(), key
        assert _fields(zh) == _fields(en), key
        words = re.sub(r"\{[^}]*\}", "", zh)
        assert CJK.search(words) or not re.search(r"[A-Za-z]{4,}", words), f"{key}: zh text is not Chinese"
        assert not CJK.search(en), f"{key}: en text has Chinese"


def test_every_cli_message_formats_in_both_languages():
    """Numbers where a field has a number format (``{rows:,}``, ``{mib:.1f}``), text elsewhere (``{user:9s}``); a name clash with
    the key argument of :func:`message` would raise too."""
    for key in CLI_KEYS:
        for lang in ("zh", "en"):
            specs = {name: spec for _, name, spec, _ in string.Formatter().parse(MESSAGES[key][0]) if name}
            values = {name: 1234.5 if re.search(r"[,fgd%]$", spec) else "x" for name, spec in specs.items()}
            assert message(key, lang, **values).strip(), (key, lang)


def test_every_message_the_command_line_uses_is_in_the_catalogue_and_every_one_there_is_used():
    source = "\n".join(path.read_text() for path in CLI_SOURCES)
    called = {f"cli_{key}" for key in re.findall(r"""\b(?:t|say|typer_app)\(["']([a-z_]*[a-z])["']""", source)}
    quoted = {f"cli_{key}" for key in re.findall(r"""["']([a-z_]+)["']""", source)}
    dynamic = {f"cli_status_{s}" for s in ("ok", "skipped", "failed")} | {
        f"cli_page_{page}" for page in re.findall(r'\("([a-z]+)", "[a-z_/.]+"\)', source)} | {
        key for key in CLI_KEYS if key.startswith("cli_col_")}  # table headers: run on a real lake below
    assert len(called) > 100, "the pattern no longer finds the messages in the sources"
    assert called - CLI_KEYS == set(), "used but missing from carbonlib/i18n/cli.py"
    assert CLI_KEYS - quoted - dynamic == set(), "in the catalogue but used nowhere"


@pytest.mark.parametrize("environ, expected", [
    ({}, "en"),
    ({"LANG": "zh_CN.UTF-8"}, "zh"),
    ({"LANG": "C.UTF-8"}, "en"),
    ({"LANG": "zh_CN.UTF-8", "LC_ALL": "en_US.UTF-8"}, "en"),
    ({"LANG": "en_US.UTF-8", "LANGUAGE": "zh_TW:en"}, "zh"),
    ({"LANG": "zh_CN.UTF-8", "CARBON_LANG": "en"}, "en"),
    ({"LANG": "C", "CARBON_LANG": "ZH"}, "zh"),
])
def test_language_from_carbon_lang_then_the_locale(environ, expected):
    assert cli_language(environ) == expected


def test_an_unknown_language_is_refused_with_the_variable_named():
    with pytest.raises(ValueError, match="CARBON_LANG must be one of"):
        cli_language({"CARBON_LANG": "fr"})
    result = carbon("lake", "info", lang="fr")
    assert result.returncode == 2
    assert "$CARBON_LANG" in result.stderr and "'fr'" in result.stderr
    with pytest.raises(KeyError, match="cli_no_such"):
        message("cli_no_such", "en")


@pytest.mark.parametrize("command", [[], ["lake", "verify"], ["accounts", "caps"], ["reports", "run"],
                                     ["security", "grant"], ["audit", "search"], ["dashboards", "panel"]])
def test_help_in_chinese_has_no_english_sentence_of_ours(command):
    zh = carbon(*command, "--help", lang="zh")
    en = carbon(*command, "--help", lang="en")
    assert zh.returncode == en.returncode == 0, zh.stderr
    assert CJK.search(zh.stdout)
    ours = [english for key, (_, english) in MESSAGES.items() if key.startswith(("cli_help_", "cli_opt_", "cli_arg_"))]
    shown_in_english = [text for text in ours if text in " ".join(en.stdout.split())]
    assert shown_in_english, "the English help shows none of the catalogue's texts: the test would pass vacuously"
    assert [text for text in ours if text in " ".join(zh.stdout.split())] == []
    assert "…" not in zh.stdout, "help text cut with an ellipsis"


def _numbers(text: str) -> list[str]:
    return re.findall(r"\d(?:[\d,]*\d)?(?:\.\d+)?%?", text)


def test_messages_on_a_real_lake_in_both_languages_carry_the_same_figures(small_demo_lake):
    lake = str(small_demo_lake.lake)
    for args in (["lake", "info"], ["lake", "snapshots"], ["lake", "verify", "--quick"],
                 ["accounts", "caps", "--year", "2025"]):
        zh, en = carbon(*args, "--lake", lake, lang="zh"), carbon(*args, "--lake", lake, lang="en")
        assert zh.returncode == en.returncode == 0, (args, zh.stderr, en.stderr)
        assert CJK.search(zh.stdout) and not CJK.search(en.stdout), args
        assert _numbers(zh.stdout) == _numbers(en.stdout), args
    caps_zh = carbon("accounts", "caps", "--year", "2025", "--lake", lake, lang="zh").stdout
    assert "tCO2e" in caps_zh and ("在配额" in caps_zh or "超出配额" in caps_zh)


def test_errors_in_chinese_keep_the_library_reason(tmp_path):
    result = carbon("lake", "info", "--lake", str(tmp_path / "nowhere"), lang="zh")
    assert result.returncode == 1
    assert result.stderr.startswith("错误：") and "carbon lake init" in result.stderr
    bad = carbon("accounts", "caps", "--year", "2025", "--as-of", "tomorrow", lang="zh")
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr and CJK.search(bad.stderr)
