"""Encryption of the secrets we keep in the database: Slack tokens and Blocks API keys.

The key is `BLOCKS_SLACK_ENCRYPTION_KEY`: one Fernet key (`generate_key()` makes one), or several
separated by commas to rotate. The first key encrypts; every key decrypts. To rotate: put a new key in
front of the old one, re-encrypt what is stored (`Vault.rotate`, row by row), then drop the old key.

Fernet (AES-128-CBC with HMAC-SHA256) authenticates as well as encrypts: a stored value that was altered,
or that was written under a key no longer configured, is refused (`UnreadableSecret`) rather than
decrypted to garbage. Neither error ever carries a key or a secret in its message.

Errors:

    SecretsAtRestError
    ├── EncryptionKeyError   the variable is empty or one of its keys is not a Fernet key
    └── UnreadableSecret     no configured key can read a stored value
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

ENCRYPTION_KEY_ENV = "BLOCKS_SLACK_ENCRYPTION_KEY"


class SecretsAtRestError(Exception):
    """A secret could not be encrypted or decrypted."""


class EncryptionKeyError(SecretsAtRestError, ValueError):
    """The encryption key setting is malformed; the message names the variable, never its value."""


class UnreadableSecret(SecretsAtRestError):
    """A stored value that none of the configured keys can decrypt: written under another key, or altered."""


def generate_key() -> str:
    """A new random key, in the form `BLOCKS_SLACK_ENCRYPTION_KEY` takes."""
    return Fernet.generate_key().decode("ascii")


def encryption_key_setting(environ: Mapping[str, str] | None = None) -> str | None:
    """The value of `BLOCKS_SLACK_ENCRYPTION_KEY` (None when unset or blank), for `Vault.from_env_value`."""
    value = (os.environ if environ is None else environ).get(ENCRYPTION_KEY_ENV)
    return value if value and value.strip() else None


class Vault:
    """Encrypts with the first key, decrypts with any of them."""

    def __init__(self, keys: Sequence[Fernet]) -> None:
        if not keys:
            raise EncryptionKeyError(f"{ENCRYPTION_KEY_ENV} holds no key")
        self._current = keys[0]
        self._all = MultiFernet(list(keys))
        self._count = len(keys)

    @classmethod
    def from_env_value(cls, value: str) -> Vault:
        """Parse `BLOCKS_SLACK_ENCRYPTION_KEY`: keys separated by commas, blanks around them ignored."""
        parts = [part.strip() for part in value.split(",")]
        keys: list[Fernet] = []
        for position, part in enumerate((p for p in parts if p), start=1):
            try:
                keys.append(Fernet(part.encode("ascii")))
            except (ValueError, TypeError):  # also UnicodeEncodeError and binascii.Error
                # `from None`: the original error would show the key in a traceback's chained context.
                raise EncryptionKeyError(
                    f"{ENCRYPTION_KEY_ENV}: key {position} is not a Fernet key (32 bytes, url-safe base64;"
                    " make one with `generate_key`)"
                ) from None
        if not keys:
            raise EncryptionKeyError(
                f"{ENCRYPTION_KEY_ENV} is empty: set one Fernet key, or several with commas"
            )
        return cls(keys)

    @property
    def key_count(self) -> int:
        return self._count

    def encrypt(self, text: str) -> str:
        return self._current.encrypt(text.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._all.decrypt(token.encode("utf-8")).decode("utf-8")
        except (InvalidToken, UnicodeDecodeError):
            raise UnreadableSecret("a stored secret cannot be decrypted with any configured key") from None

    def rotate(self, token: str) -> str:
        """The same secret, encrypted with the first key (whichever key it was written under)."""
        try:
            return self._all.rotate(token.encode("utf-8")).decode("ascii")
        except InvalidToken:
            raise UnreadableSecret("a stored secret cannot be decrypted with any configured key") from None

    def is_current(self, token: str) -> bool:
        """Whether `token` is written under the first key already (re-encrypting it would change nothing)."""
        try:
            self._current.decrypt(token.encode("utf-8"))
        except InvalidToken:
            return False
        return True

    def __repr__(self) -> str:
        return f"Vault({self._count} key{'s' if self._count != 1 else ''})"
