"""The alert rules file (``pipelines/alerts.yaml``): what is watched, how loud, who hears it.

Rules live in a file, not in code, so a bureau tunes thresholds and recipients without a release::

    smtp: {host: 127.0.0.1, port: 25, sender: carbon-alerts@example.org}
    channels:
      duty_mail: {kind: email, to: [duty@example.org]}
      duty_group: {kind: webhook, flavour: wecom, url_env: CARBON_ALERT_WEBHOOK}
    rules:
      device_silent: {kind: device_silent, intervals: 3, severity: warning,
                      notify: [duty_group], escalate_after_min: 60, escalate_to: [duty_mail]}

Each rule's parameters are those of its check (:data:`carbonlib.alerts.checks.PARAMETERS`), with
their defaults.  Secrets never stand in the file: an SMTP password and a webhook address (a
robot's address is its key) are read from the environment variables the file names (``*_env``).
Every mistake is refused with the file, the rule or channel and the field named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..lake.schema import ALERT_KINDS, ALERT_SEVERITIES, METRICS
from .checks import MINIMUM, PARAMETERS

REPO_ROOT = Path(__file__).resolve().parents[2]
RULES_FILE = REPO_ROOT / "pipelines" / "alerts.yaml"
CHANNEL_KINDS = ("email", "webhook")
#: Webhook payloads: a WeCom (企业微信) or DingTalk (钉钉) group robot's markdown message, or the alert as JSON.
WEBHOOK_FLAVOURS = ("wecom", "dingtalk", "json")
#: Longest rule name (it is part of every alert id, which the lake limits to 128 characters).
RULE_NAME_LENGTH = 40


class RulesError(ValueError):
    """The rules file is wrong; the message names the file, the entry and the field."""


@dataclass(frozen=True)
class Smtp:
    """The mail relay: host and port, sender address, optional login (password from ``password_env``), STARTTLS."""

    host: str = "127.0.0.1"
    port: int = 25
    sender: str = "carbon-alerts@localhost"
    username: str | None = None
    password_env: str | None = None
    starttls: bool = False
    timeout_s: float = 10.0


@dataclass(frozen=True)
class Channel:
    """Where notifications go: e-mail recipients (``to``) or a webhook (``url``, or ``url_env`` naming the
    environment variable that holds it; ``secret_env``: a DingTalk robot's signing secret)."""

    name: str
    kind: str
    to: tuple[str, ...] = ()
    url: str | None = None
    url_env: str | None = None
    flavour: str = "json"
    secret_env: str | None = None
    lang: str = "zh"


@dataclass(frozen=True)
class Rule:
    """One rule: its check (``kind``) with ``params``, severity, channels told when it opens or clears
    (``notify``) and, when nobody acknowledges it within ``escalate_after_min`` minutes, ``escalate_to``;
    ``orgs``: the org subtrees it watches (empty: all), so a county may have its own thresholds."""

    name: str
    kind: str
    severity: str = "warning"
    params: dict = field(default_factory=dict)
    notify: tuple[str, ...] = ()
    escalate_after_min: float | None = None
    escalate_to: tuple[str, ...] = ()
    orgs: tuple[str, ...] = ()


@dataclass(frozen=True)
class RuleSet:
    """A parsed rules file."""

    rules: dict[str, Rule]
    channels: dict[str, Channel]
    smtp: Smtp
    path: Path


def _fail(path: Path, where: str, text: str) -> RulesError:
    return RulesError(f"{path}: {where}: {text}")


def _names(path: Path, where: str, value, known: dict) -> tuple[str, ...]:
    names = tuple([value] if isinstance(value, str) else value or ())
    unknown = [n for n in names if n not in known]
    if unknown:
        raise _fail(path, where, f"unknown channel(s) {unknown}; channels of the file: {sorted(known)}")
    return names


def _channel(path: Path, name: str, spec: dict) -> Channel:
    where = f"channel {name!r}"
    if not isinstance(spec, dict) or spec.get("kind") not in CHANNEL_KINDS:
        raise _fail(path, where, f"needs kind: one of {list(CHANNEL_KINDS)}")
    allowed = {"kind", "to", "lang"} | ({"url", "url_env", "flavour", "secret_env"} if spec["kind"] == "webhook" else set())
    extra = sorted(set(spec) - allowed)
    if extra:
        raise _fail(path, where, f"unknown field(s) {extra}; a {spec['kind']} channel takes {sorted(allowed)}")
    if spec.get("lang", "zh") not in ("zh", "en"):
        raise _fail(path, where, f"lang must be zh or en, not {spec['lang']!r}")
    if spec["kind"] == "email":
        to = spec.get("to")
        to = (to,) if isinstance(to, str) else tuple(to or ())
        if not to or not all(isinstance(a, str) and "@" in a for a in to):
            raise _fail(path, where, f"to: give the recipients' e-mail addresses, not {spec.get('to')!r}")
        return Channel(name, "email", to=to, lang=spec.get("lang", "zh"))
    if bool(spec.get("url")) == bool(spec.get("url_env")):
        raise _fail(path, where, "give exactly one of url and url_env (the environment variable holding the address; "
                                 "a robot's address is its key, so keep it out of git)")
    flavour = spec.get("flavour", "json")
    if flavour not in WEBHOOK_FLAVOURS:
        raise _fail(path, where, f"flavour must be one of {list(WEBHOOK_FLAVOURS)}, not {flavour!r}")
    return Channel(name, "webhook", url=spec.get("url"), url_env=spec.get("url_env"), flavour=flavour,
                   secret_env=spec.get("secret_env"), lang=spec.get("lang", "zh"))


def _number(path: Path, where: str, name: str, value, low: float, integer: bool) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low or (integer and value != int(value)):
        kind = "a whole number" if integer else "a number"
        raise _fail(path, where, f"{name} must be {kind} of at least {low:g}, not {value!r}")
    return int(value) if integer else float(value)


def _rule(path: Path, name: str, spec: dict, channels: dict[str, Channel]) -> Rule:
    where = f"rule {name!r}"
    if not (isinstance(name, str) and name.replace("_", "").replace("-", "").isalnum() and len(name) <= RULE_NAME_LENGTH):
        raise _fail(path, where, f"a rule name is letters, digits, _ and - (at most {RULE_NAME_LENGTH} characters)")
    if not isinstance(spec, dict) or spec.get("kind") not in ALERT_KINDS:
        raise _fail(path, where, f"needs kind: one of {list(ALERT_KINDS)}")
    kind = spec["kind"]
    general = {"kind", "severity", "notify", "escalate_after_min", "escalate_to", "orgs"}
    defaults = PARAMETERS[kind]
    extra = sorted(set(spec) - general - set(defaults))
    if extra:
        raise _fail(path, where, f"unknown field(s) {extra}; a {kind} rule takes {sorted(defaults)} and {sorted(general)}")
    params = {}
    for key, default in defaults.items():
        value = spec.get(key, default)
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            params[key] = _number(path, where, key, value, MINIMUM[key], isinstance(default, int))
        elif isinstance(default, list):
            if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                raise _fail(path, where, f"{key} must be a list of names, not {value!r}")
            if key == "metrics" and (unknown := sorted(set(value) - set(METRICS))):
                raise _fail(path, where, f"unknown metric(s) {unknown}; metrics of the lake: {sorted(METRICS)}")
            params[key] = list(value)
        else:
            params[key] = value
    severity = spec.get("severity", "warning")
    if severity not in ALERT_SEVERITIES:
        raise _fail(path, where, f"severity must be one of {list(ALERT_SEVERITIES)}, not {severity!r}")
    escalate_after = spec.get("escalate_after_min")
    if escalate_after is not None:
        escalate_after = _number(path, where, "escalate_after_min", escalate_after, 1, False)
    escalate_to = _names(path, f"{where} escalate_to", spec.get("escalate_to"), channels)
    if (escalate_after is None) != (not escalate_to):
        raise _fail(path, where, "escalation needs both escalate_after_min and escalate_to")
    orgs = spec.get("orgs") or []
    if not (isinstance(orgs, list) and all(isinstance(o, str) for o in orgs)):
        raise _fail(path, where, f"orgs must be a list of org ids, not {orgs!r}")
    return Rule(name, kind, severity, params, _names(path, f"{where} notify", spec.get("notify"), channels),
                escalate_after, escalate_to, tuple(orgs))


def load_rules(path: str | Path = RULES_FILE) -> RuleSet:
    """Parse and check the rules file at ``path`` (RulesError naming the file, entry and field)."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise RulesError(f"{path}: no such rules file; fix: copy pipelines/alerts.yaml of the repository") from None
    except yaml.YAMLError as error:
        raise RulesError(f"{path}: not valid YAML: {error}") from None
    extra = sorted(set(document) - {"smtp", "channels", "rules"})
    if extra:
        raise _fail(path, "top level", f"unknown key(s) {extra}; the file has smtp, channels and rules")
    smtp_spec = document.get("smtp") or {}
    try:
        smtp = Smtp(**smtp_spec)
    except TypeError:
        raise _fail(path, "smtp", f"unknown field(s); smtp takes {sorted(Smtp.__dataclass_fields__)}") from None
    channels = {name: _channel(path, name, spec) for name, spec in (document.get("channels") or {}).items()}
    rules = {name: _rule(path, name, spec, channels) for name, spec in (document.get("rules") or {}).items()}
    if not rules:
        raise _fail(path, "rules", "no rule; an empty rules file would watch nothing")
    return RuleSet(rules, channels, smtp, path)
