"""MQTT payloads -> telemetry rows: SenML JSON batches (RFC 8428) and a one-reading JSON object.

Topic ``carbon/telemetry/<device_id>``: the device is the one the broker authenticated (its ACL
lets it publish only there).  Payloads:

* **SenML JSON** (RFC 8428), a list of records: base name ``bn``, base time ``bt`` (s since the
  Unix epoch), base unit ``bu``; per record name ``n``, unit ``u``, value ``v``, time ``t``
  (relative to ``bt``; an absolute time when ≥ 2**28, RFC 8428 section 4.5.3).  The metric is the
  last ``:``/``/``-separated part of ``bn`` + ``n`` (so ``urn:dev:tower1:NEE`` is ``NEE``).
  SenML unit symbols (``Cel``, ``W/m2``, ``m/s``, ``Pa``, ``kWh``) convert to the metric's
  canonical unit (:mod:`.measures`);
* **one reading**: ``{"metric": "Tair", "ts": "2026-12-02T08:00:00Z", "value": 12.5, "unit": "degC",
  "qc": 0}`` (``unit`` and ``qc`` optional; ``ts`` ISO 8601 with a zone, or epoch seconds).

Each reading's time is the START of its interval, in UTC.  A payload that is not JSON, a record
without a value or name, an unknown unit: a row refused with the reason (``src_refused``), kept in
``telemetry_reject`` with the raw payload (nothing is lost).
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone

from . import measures
from ..lake.schema import METRICS

#: SenML unit symbols (RFC 8428 section 12.1) -> spellings :mod:`.measures` reads.
SENML_UNITS = {"Cel": "degC", "K": "K", "Pa": "Pa", "hPa": "hPa", "kPa": "kPa", "W/m2": "W m-2", "m/s": "m s-1",
               "kWh": "kWh", "Wh": "kWh", "MWh": "MWh", "GJ": "GJ", "m3": "m3", "t": "t", "kg": "kg", "l": "L", "L": "L",
               "umol/m2/s": "umol m-2 s-1"}
_ABSOLUTE = 2 ** 28


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).replace(tzinfo=None)


def _when(value) -> datetime:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _utc(float(value))
    if isinstance(value, str):
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if stamp.tzinfo is None:
            raise ValueError(f"time stamp {value!r} has no zone (give Z or +08:00)")
        return stamp.astimezone(timezone.utc).replace(tzinfo=None)
    raise ValueError(f"time stamp {value!r} is neither ISO 8601 text nor epoch seconds")


def _converted(metric: str, value, unit: str | None, senml: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"value {value!r} is not a number")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError("value is NaN or infinite")
    if unit is None:
        return value
    spelled = SENML_UNITS.get(unit, unit) if senml else unit
    return float(measures.conversion(metric, spelled)(value))


def _row(device_id: str, metric, ts, value, qc=0, refused: str | None = None) -> dict:
    return {"device_id": device_id, "metric": metric, "ts": ts, "value": value, "qc": qc, "src_refused": refused}


def _senml(device_id: str, records: list, received: datetime) -> list[dict]:
    rows, base = [], {"bn": "", "bt": 0.0, "bu": None}
    for record in records:
        if not isinstance(record, dict):
            rows.append(_row(device_id, None, None, None, refused=f"SenML record {record!r} is not an object"))
            continue
        for key in ("bn", "bt", "bu"):
            if key in record:
                base[key] = record[key]
        if not ({"n", "v", "t", "u"} & set(record)):
            continue  # a record of base fields only
        name = f"{base['bn']}{record.get('n', '')}"
        metric = name.replace("/", ":").split(":")[-1]
        try:
            if "v" not in record:
                raise ValueError("SenML record has no numeric value v")
            if metric not in METRICS:
                raise ValueError(f"SenML name {name!r} names no metric ({', '.join(METRICS)})")
            t = float(record.get("t", 0.0))
            moment = t if t >= _ABSOLUTE else float(base["bt"] or 0.0) + t
            ts = _utc(moment) if moment >= _ABSOLUTE else received
            value = _converted(metric, record["v"], record.get("u", base["bu"]), senml=True)
            rows.append(_row(device_id, metric, ts, value))
        except (ValueError, TypeError, OverflowError) as error:
            rows.append(_row(device_id, metric or None, None, None, refused=f"SenML: {error}"))
    return rows


def parse(topic: str, payload: bytes, received: datetime) -> list[dict]:
    """The telemetry rows of one message (refused ones carry ``src_refused``); ``received`` UTC, naive."""
    device_id = topic.rsplit("/", 1)[-1]
    try:
        document = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        return [_row(device_id, None, None, None, refused=f"malformed JSON: {error}")]
    if isinstance(document, list):
        return _senml(device_id, document, received) or [_row(device_id, None, None, None,
                                                               refused="empty SenML pack")]
    if not isinstance(document, dict):
        return [_row(device_id, None, None, None, refused="payload is neither a SenML pack nor a reading object")]
    metric = document.get("metric")
    try:
        if metric not in METRICS:
            raise ValueError(f"metric {metric!r} is not one of {', '.join(METRICS)}")
        if "ts" not in document:
            raise ValueError("reading has no ts")
        qc = document.get("qc", 0)
        value = _converted(metric, document.get("value"), document.get("unit"), senml=False)
        return [_row(device_id, metric, _when(document["ts"]), value, qc=qc)]
    except (ValueError, TypeError, OverflowError) as error:
        return [_row(device_id, metric if isinstance(metric, str) else None, None, None, refused=str(error))]
