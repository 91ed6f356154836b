"""The security policy: passwords, lockout, sessions, second factor; one object, kept in the store.

Defaults follow GB/T 22239-2019 level 2 (identification and authentication: complexity,
periodic change, lockout after failed logins, session timeout) and level 3 where it is
cheap (a second factor for the administrator triad).  The security administrator changes
them with ``carbon security policy`` (audited); every value is checked on the way in.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace

#: Character classes a password draws from (lower, upper, digit, other).
CLASSES = ("lower case", "upper case", "digit", "other")


@dataclass(frozen=True)
class Policy:
    """Every setting of the security policy (times in minutes or days as named)."""

    min_length: int = 8
    min_classes: int = 3
    expiry_days: int = 90
    history: int = 5
    lockout_failures: int = 5
    lockout_minutes: int = 10
    idle_minutes: int = 15
    session_hours: int = 8
    admin_totp: bool = True
    audit_retention_days: int = 180
    checkpoint_every: int = 1000

    def __post_init__(self) -> None:
        limits = {"min_length": (8, 256), "min_classes": (3, 4), "expiry_days": (1, 3650), "history": (1, 50),
                  "lockout_failures": (1, 20), "lockout_minutes": (1, 1440), "idle_minutes": (1, 240),
                  "session_hours": (1, 72), "audit_retention_days": (180, 36500), "checkpoint_every": (1, 1_000_000)}
        for name, (low, high) in limits.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"policy {name} must be a whole number from {low} to {high}, not {value!r}")
        if not isinstance(self.admin_totp, bool):
            raise ValueError(f"policy admin_totp must be true or false, not {self.admin_totp!r}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Policy":
        return cls(**json.loads(text))

    def changed(self, **values: str) -> "Policy":
        """A copy with ``name=text`` values (as typed on the command line) converted and checked."""
        known = {f.name: f.type for f in fields(self)}
        converted = {}
        for name, text in values.items():
            if name not in known:
                raise ValueError(f"unknown policy setting {name!r}; known: {sorted(known)}")
            if known[name] in ("bool", bool):
                if str(text).lower() not in ("true", "false"):
                    raise ValueError(f"policy {name} must be true or false, not {text!r}")
                converted[name] = str(text).lower() == "true"
            else:
                try:
                    converted[name] = int(text)
                except ValueError:
                    raise ValueError(f"policy {name} must be a whole number, not {text!r}") from None
        return replace(self, **converted)
