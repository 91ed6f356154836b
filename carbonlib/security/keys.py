"""The audit keys: an Ed25519 key that signs checkpoints and an HMAC key that seals each entry.

Kept in one file readable only by its owner (mode 0600), next to the SQLite store (or in
``<lake>-security/`` for a PostgreSQL store), never in the store itself: someone who can
edit the store cannot forge a seal or a signature.  The public key
(``carbon audit public-key``) lets anyone verify checkpoints without the secret.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..settings import Settings
from .store import StoreError


def key_path(settings: Settings) -> Path:
    lake = Path(settings.lake).resolve()
    return lake.parent / f"{lake.name}-security" / "audit.key"


@dataclass(frozen=True)
class AuditKeys:
    signing: Ed25519PrivateKey
    seal: bytes  # HMAC-SHA256 key

    @property
    def public(self) -> Ed25519PublicKey:
        return self.signing.public_key()

    @property
    def key_id(self) -> str:
        """First 16 hex digits of SHA-256 of the raw public key."""
        raw = self.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return hashlib.sha256(raw).hexdigest()[:16]

    def public_pem(self) -> str:
        return self.public.public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def create(path: Path) -> AuditKeys:
    """Make new keys at ``path`` (owner-only); refuses to overwrite existing keys."""
    if path.exists():
        raise StoreError(f"audit keys already exist at {path}; refusing to replace them (old checkpoints would no "
                         "longer verify)")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    keys = AuditKeys(Ed25519PrivateKey.generate(), secrets.token_bytes(32))
    private = keys.signing.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                         serialization.NoEncryption())
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump({"ed25519": base64.b64encode(private).decode(), "hmac": keys.seal.hex(), "key_id": keys.key_id}, handle)
    return keys


def load(path: Path) -> AuditKeys:
    """The keys at ``path``; refused when missing or readable by others."""
    if not path.is_file():
        raise StoreError(f"no audit keys at {path}. Fix: run `carbon security init` (it creates them), or restore "
                         "the key file from a backup.")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise StoreError(f"the audit key file {path} is readable by others (mode {mode:o}). Fix: chmod 600 {path}")
    data = json.loads(path.read_text())
    return AuditKeys(Ed25519PrivateKey.from_private_bytes(base64.b64decode(data["ed25519"])), bytes.fromhex(data["hmac"]))


def public_key(pem: str) -> Ed25519PublicKey:
    return serialization.load_pem_public_key(pem.encode())
