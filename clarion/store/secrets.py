"""Encryption at rest for secrets the service must read back: API secret keys (SigV4 needs the
secret itself, so it cannot be hashed) and channel credentials.

Fernet (AES-128-CBC + HMAC-SHA256) with one master key: `CLARION_MASTER_KEY` when set (share
it between processes that use one PostgreSQL store), else `<data-dir>/master.key`, created on
first start with mode 0600.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

import orjson
from cryptography.fernet import Fernet, InvalidToken


class Vault:
    def __init__(self, key: bytes):
        self._fernet = Fernet(key)
        self._key = key

    def derive_key(self, purpose: str) -> bytes:
        """A key for one purpose (signing tracking links, hashing one-time passwords), derived
        from the master key: stable across restarts and processes, different per purpose."""
        return hmac.new(self._key, b"clarion:" + purpose.encode(), hashlib.sha256).digest()

    @classmethod
    def open(cls, data_dir: Path, master_key: str | None) -> "Vault":
        if master_key:
            return cls(master_key.encode())
        path = data_dir / "master.key"
        if not path.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(Fernet.generate_key())
        return cls(path.read_bytes().strip())

    def seal(self, value) -> str:
        return self._fernet.encrypt(orjson.dumps(value)).decode()

    def open_sealed(self, token: str):
        try:
            return orjson.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            raise RuntimeError("cannot decrypt a stored secret: is CLARION_MASTER_KEY the one it was sealed with?") from None
