"""MQTT credentials of devices: the Mosquitto password file and ACL the registry keeps (GB/T 22239 IoT extension:
only authorised sensing nodes connect).

The files live in ``mqtt/`` next to the security store's keys (owner-only), and the broker reads
them (``carbon ingest broker-config`` prints a ``mosquitto.conf`` that points at them):

* ``passwd``: one user per device (user name = device id) plus the ingester, hashed by Mosquitto's
  own ``mosquitto_passwd`` (PBKDF2-SHA512); a password is shown once, when it is issued;
* ``acl``: a device may only publish to ``carbon/telemetry/<its id>``; the ingester only reads
  ``carbon/telemetry/#``;
* ``mosquitto.pid``: the broker's process, sent SIGHUP after a change so that it reloads both
  files (a revoked device cannot connect again; the ingester also refuses readings of devices
  that are no longer active).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
from pathlib import Path

from ..lake.schema import ID_PATTERN

TOPIC_PREFIX = "carbon/telemetry"
INGESTER_USER = "carbon-ingester"
_PASSWD_TOOL = "mosquitto_passwd"


class BrokerCredentials:
    """The broker's password file, ACL and pid file in ``folder`` (see the module doc)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.passwd = self.folder / "passwd"
        self.acl = self.folder / "acl"
        self.pid_file = self.folder / "mosquitto.pid"

    def _prepare(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        for path in (self.passwd, self.acl):
            if not path.exists():
                path.touch(mode=0o600)
        self.acl.write_text(f"# written by carbonlib.devices.credentials; do not edit\nuser {INGESTER_USER}\n"
                            f"topic read {TOPIC_PREFIX}/#\n\npattern write {TOPIC_PREFIX}/%u\n", encoding="utf-8")

    def _tool(self, *args: str) -> None:
        tool = shutil.which(_PASSWD_TOOL) or f"/usr/bin/{_PASSWD_TOOL}"
        if not Path(tool).exists():
            raise RuntimeError(f"{_PASSWD_TOOL} is not installed; install Debian's mosquitto package "
                               "(make system-deps) to manage device credentials")
        done = subprocess.run([tool, *args], capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise RuntimeError(f"{_PASSWD_TOOL} failed: {(done.stderr or done.stdout).strip()[:300]}")

    def issue(self, username: str) -> str:
        """A new random password for ``username`` (replacing any earlier one); shown to the caller once."""
        if not re.fullmatch(ID_PATTERN, username) and username != INGESTER_USER:
            raise ValueError(f"{username!r} is not a device id")
        self._prepare()
        password = secrets.token_urlsafe(24)
        self._tool("-b", str(self.passwd), username, password)
        os.chmod(self.passwd, 0o600)
        self.reload()
        return password

    def revoke(self, username: str) -> bool:
        """Remove ``username`` from the password file; False when it had no credentials."""
        if username not in self.users():
            return False
        self._tool("-D", str(self.passwd), username)
        self.reload()
        return True

    def users(self) -> list[str]:
        if not self.passwd.exists():
            return []
        return [line.split(":", 1)[0] for line in self.passwd.read_text(encoding="utf-8").splitlines() if ":" in line]

    def reload(self) -> bool:
        """Tell a running broker to re-read the files (SIGHUP); False when none runs here."""
        try:
            os.kill(int(self.pid_file.read_text().strip()), signal.SIGHUP)
            return True
        except (OSError, ValueError):
            return False

    def broker_config(self, host: str = "127.0.0.1", port: int = 1883) -> str:
        """A ``mosquitto.conf`` for these files: loopback by default, no anonymous access, persistent sessions."""
        self._prepare()
        data = self.folder / "data"
        data.mkdir(exist_ok=True, mode=0o700)
        return "\n".join([
            "# Mosquitto configuration for the Carbon Sink Workbench (carbon ingest broker-config)",
            f"listener {port} {host}",
            "allow_anonymous false",
            f"password_file {self.passwd}",
            f"acl_file {self.acl}",
            f"pid_file {self.pid_file}",
            "persistence true",
            f"persistence_location {data}/",
            "# the ingester acknowledges a reading only after its batch is committed: let enough be in flight,",
            "# and keep what arrives while it is down",
            "max_inflight_messages 0",
            "max_queued_messages 0",
            "", ])
