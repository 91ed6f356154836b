"""Telling people: alert notices by e-mail (SMTP) and by webhook (WeCom / DingTalk group robots, or JSON).

Texts come from the message catalogue in the channel's language (``alert_<kind>`` made of the
alert's facts).  WeCom (企业微信) and DingTalk (钉钉) group robots take a ``markdown`` message
(``{"msgtype": "markdown", "markdown": {"content": ...}}`` and ``{... {"title", "text"}}``) and
answer ``{"errcode": 0}``; anything else is a failed delivery.  A DingTalk robot with
"signing" appends ``timestamp`` and ``sign`` (HMAC-SHA256 of "timestamp\\nsecret", Base64)
to its address.  Deliveries are retried three times (tenacity); a delivery that still fails is
reported, never raised, so one dead channel does not silence the others.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import smtplib
import time
import urllib.parse
from collections.abc import Mapping
from email.message import EmailMessage

import pandas as pd
import requests
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from ..i18n import label, message
from .lifecycle import Notice
from .rules import Channel, RuleSet, Smtp

_retry = retry(stop=stop_after_attempt(3), wait=wait_exponential(multiplier=0.5, max=4), reraise=True,
               retry=retry_if_exception_type((OSError, requests.RequestException)))


def text(alert: Mapping, lang: str) -> str:
    """What the alert says, in ``lang`` (message ``alert_<kind>``, or ``alert_<kind>_<variant>`` when the facts
    name a variant, e.g. a device never heard from)."""
    facts = alert["facts"]
    variant = f"_{facts['variant']}" if facts.get("variant") else ""
    return message(f"alert_{alert['kind']}{variant}", lang, **facts)


def subject(notice: Notice, lang: str) -> str:
    """The one-line title of ``notice`` (mail subject, robot title)."""
    alert = notice.alert
    minutes = round((pd.Timestamp.now(tz="UTC").tz_localize(None) - pd.Timestamp(alert["opened_at"])).total_seconds() / 60)
    return message(f"alert_subject_{notice.step}", lang, severity=label(alert["severity"], lang), text=text(alert, lang),
                   minutes=minutes)


def footer(alert: Mapping, lang: str) -> str:
    return message("alert_body_footer", lang, alert_id=alert["alert_id"], rule=alert["rule"],
                   opened=f"{pd.Timestamp(alert['opened_at']):%Y-%m-%d %H:%M}")


def webhook_payload(notice: Notice, channel: Channel) -> dict:
    """The JSON body a ``channel`` of its flavour accepts."""
    lang, alert = channel.lang, notice.alert
    title, body = subject(notice, lang), text(alert, lang)
    if channel.flavour == "wecom":
        return {"msgtype": "markdown", "markdown": {"content": f"**{title}**\n> {body}\n\n{footer(alert, lang)}"}}
    if channel.flavour == "dingtalk":
        return {"msgtype": "markdown", "markdown": {"title": title[:64], "text": f"#### {title}\n\n{body}\n\n{footer(alert, lang)}"}}
    return {"step": notice.step, "title": title, "text": body, "alert_id": alert["alert_id"], "rule": alert["rule"],
            "kind": alert["kind"], "subject": alert["subject"], "org_id": alert["org_id"],
            "severity": alert["severity"], "level": int(alert["level"]),
            "opened_at": f"{pd.Timestamp(alert['opened_at']):%Y-%m-%dT%H:%M:%SZ}", "facts": alert["facts"]}


def _address(channel: Channel, environ: Mapping[str, str]) -> str:
    url = channel.url or environ.get(channel.url_env or "", "")
    if not url:
        raise ValueError(f"channel {channel.name}: ${channel.url_env} is not set; fix: export the robot's address in it")
    if channel.flavour == "dingtalk" and channel.secret_env:
        secret = environ.get(channel.secret_env, "")
        if not secret:
            raise ValueError(f"channel {channel.name}: ${channel.secret_env} (the robot's signing secret) is not set")
        stamp = str(round(time.time() * 1000))
        digest = hmac.new(secret.encode(), f"{stamp}\n{secret}".encode(), hashlib.sha256).digest()
        url += ("&" if "?" in url else "?") + urllib.parse.urlencode({"timestamp": stamp,
                                                                      "sign": base64.b64encode(digest).decode()})
    return url


@_retry
def _post(url: str, payload: dict) -> None:
    answer = requests.post(url, json=payload, timeout=10)
    answer.raise_for_status()
    if "json" in answer.headers.get("Content-Type", ""):
        reply = answer.json()
        if isinstance(reply, dict) and reply.get("errcode", 0) != 0:  # WeCom / DingTalk refusals come as HTTP 200
            raise ValueError(f"the robot refused the message: errcode {reply.get('errcode')}, {reply.get('errmsg')}")


@_retry
def _mail(smtp: Smtp, message_: EmailMessage, environ: Mapping[str, str]) -> None:
    with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s) as relay:
        if smtp.starttls:
            relay.starttls()
        if smtp.username:
            relay.login(smtp.username, environ.get(smtp.password_env or "", ""))
        relay.send_message(message_)


def email(notice: Notice, channel: Channel, smtp: Smtp) -> EmailMessage:
    """The mail of ``notice`` to ``channel``'s recipients (plain text, UTF-8)."""
    lang, alert = channel.lang, notice.alert
    mail = EmailMessage()
    mail["Subject"] = subject(notice, lang)
    mail["From"] = smtp.sender
    mail["To"] = ", ".join(channel.to)
    mail["X-Carbon-Alert"] = alert["alert_id"]
    mail.set_content(f"{text(alert, lang)}\n\n{footer(alert, lang)}\n")
    return mail


def send(notices: list[Notice], rules: RuleSet, environ: Mapping[str, str] = os.environ) -> tuple[int, list[str]]:
    """Deliver every notice to each of its channels; returns (deliveries made, failures as 'channel: reason')."""
    sent, failures = 0, []
    for notice in notices:
        for name in notice.channels:
            channel = rules.channels[name]
            try:
                if channel.kind == "email":
                    _mail(rules.smtp, email(notice, channel, rules.smtp), environ)
                else:
                    _post(_address(channel, environ), webhook_payload(notice, channel))
                sent += 1
            except Exception as error:  # reported per channel: the other channels still hear of the alert
                failures.append(f"{name} ({notice.step} {notice.alert['alert_id']}): {type(error).__name__}: {error}")
    return sent, failures
