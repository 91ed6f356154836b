"""Password hashing (argon2id, argon2-cffi) and the password rules of the policy.

The hash parameters are tuned so one verification takes 50-250 ms on the 2-core reference
machine (``benchmarks/security.py`` measures it): slow enough for an offline guesser, fast
enough for a login.  A stored hash carries its own parameters, so tuning later keeps old
hashes valid (they are re-hashed on the next login).
"""

from __future__ import annotations

import secrets
import string

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from .policy import CLASSES, Policy

#: argon2id: 64 MiB, 3 passes, 2 lanes (RFC 9106's second recommended option, memory lowered for shared servers).
HASHER = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=2, hash_len=32, salt_len=16)
MAX_LENGTH = 256


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def verify(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash`` (False for a missing or malformed hash)."""
    if not stored_hash:
        HASHER.hash("timing-equaliser")  # the same work as a real check: no user enumeration by time
        return False
    try:
        return HASHER.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return HASHER.check_needs_rehash(stored_hash)


def _classes(password: str) -> int:
    return sum((any(c.islower() for c in password), any(c.isupper() for c in password),
                any(c.isdigit() for c in password), any(not c.isalnum() for c in password)))


def problems(password: str, policy: Policy, *, username: str = "") -> list[str]:
    """What is wrong with ``password`` under ``policy`` (empty when it is acceptable)."""
    found = []
    if not isinstance(password, str):
        return ["a password is text"]
    if len(password) < policy.min_length:
        found.append(f"at least {policy.min_length} characters")
    if len(password) > MAX_LENGTH:
        found.append(f"at most {MAX_LENGTH} characters")
    if _classes(password) < policy.min_classes:
        found.append(f"characters of at least {policy.min_classes} kinds ({', '.join(CLASSES)})")
    if username and username.casefold() in password.casefold():
        found.append("not containing the username")
    return found


def one_time_password(policy: Policy) -> str:
    """A random password that meets ``policy`` (for new accounts, changed at first login)."""
    alphabet = string.ascii_letters + string.digits + "-_.!@#"
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(max(16, policy.min_length)))
        if not problems(candidate, policy):
            return candidate
