"""Who runs a ``carbon`` command that changes data: the logged-in user, or the scheduler's service key.

``carbon login`` keeps the session token in an owner-only file (``$CARBON_SESSION_FILE`` or
``~/.config/carbon/sessions/<store>``, one per security store, so a login to one lake never
stands in for another); it dies with the session (idle timeout, absolute life, logout).  Scheduled jobs and ``make demo`` run as the ``scheduler`` account with its key
file (``<lake>-security/service.key``, owner-only): whoever can read that file is the
scheduler, so only the service user may.
"""

from __future__ import annotations

import hashlib
import os
from contextlib import contextmanager
from collections.abc import Iterator
from pathlib import Path

from ..settings import Settings


def session_file(settings: Settings) -> Path:
    """Where this command line keeps its session token for the security store of ``settings``."""
    from ..security.store import location

    configured = os.environ.get("CARBON_SESSION_FILE")
    if configured:
        return Path(configured)
    store = hashlib.sha256(location(settings).display.encode()).hexdigest()[:16]
    return Path.home() / ".config" / "carbon" / "sessions" / store


def save_token(settings: Settings, token: str) -> Path:
    path = session_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(token)
    return path


def saved_token(settings: Settings) -> str | None:
    path = session_file(settings)
    return path.read_text().strip() if path.is_file() else None


@contextmanager
def acting(settings: Settings, source: str = "cli") -> Iterator[tuple]:
    """The open security layer and the principal of this command (session file, else the service key).

    Fails with the fix when there is neither; the caller checks the principal's rights.
    """
    from ..security import LoginRefused, Security, SessionInvalid, StoreError
    from .common import fail, t

    try:
        security = Security.open(settings)
    except StoreError as error:
        fail(error)
    try:
        token = saved_token(settings)
        try:
            if token:
                principal = security.sessions.principal(token, source=source)
            elif security.service_key_path().is_file():
                principal = security.service_login(source=source).principal
            else:
                raise SessionInvalid("not logged in")
        except (SessionInvalid, LoginRefused) as refused:
            fail(t("not_logged_in", refused=refused, lake=settings.lake, key=security.service_key_path()))
        yield security, principal
    finally:
        security.close()

