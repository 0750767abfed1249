"""Fingerprints of secrets that reveal nothing about them.

Status, ``config``, logs and the token cache show a secret as a short fingerprint so that
an operator can tell whether two places hold the same value. A plain hash of the value
would let anyone who reads the fingerprint (GetStatus needs no token) test guesses offline;
so the fingerprint is an HMAC-SHA256 under a random key of this installation, kept 0600 in
``$OBSERVER_DATA_DIR/state/fingerprint.key`` and created on first use. Equal secrets
compare equal on one installation; without the key, a fingerprint says nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Final

KEY_FILE: Final = Path("state") / "fingerprint.key"
_KEY_BYTES = 32
#: Hex digits shown (32 bits: enough to tell values apart, nothing to test guesses on).
DIGITS: Final = 8


class Fingerprints:
    """``fp(secret)`` -> the installation's fingerprint of ``secret``."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a fingerprint key needs at least 16 bytes")
        self._key = key

    def __call__(self, secret: str) -> str:
        digest = hmac.new(self._key, secret.encode(), hashlib.sha256).hexdigest()
        return digest[:DIGITS]

    def __repr__(self) -> str:
        return "Fingerprints(<installation key>)"

    @classmethod
    def ephemeral(cls) -> Fingerprints:
        """A key of this process only (tools and tests: nothing persisted, nothing stable)."""
        return cls(secrets.token_bytes(_KEY_BYTES))


def load_or_create(data_dir: Path) -> Fingerprints:
    """The installation's fingerprints; the key is created (0600, fsynced) on first use."""
    path = data_dir / KEY_FILE
    with contextlib.suppress(FileNotFoundError):
        return Fingerprints(path.read_bytes())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, secrets.token_bytes(_KEY_BYTES))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # never replaces a key another process created meanwhile
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return Fingerprints(path.read_bytes())


def existing(data_dir: Path) -> Fingerprints | None:
    """The installation's fingerprints if its key exists and can be read (no side effect)."""
    try:
        return Fingerprints((data_dir / KEY_FILE).read_bytes())
    except (OSError, ValueError):
        return None
