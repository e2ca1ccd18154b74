"""Encryption of credentials at rest (Fernet, with key rotation).

``CREDENTIALS_ENCRYPTION_KEYS`` lists Fernet keys, newest first: new values are
encrypted with the first, every listed key can decrypt. To rotate: put a new key
first, run ``manage.py rotate_credentials_key``, then drop the old key.
"""

import base64
import hashlib
from functools import cache, lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class DecryptionError(Exception):
    """The stored value cannot be decrypted with any configured key."""


def _derived_dev_key() -> bytes:
    # Development and tests only (see settings): a key derived from SECRET_KEY so a
    # fresh machine works with no setup. Production must set real keys.
    digest = hashlib.sha256(f"credentials:{settings.SECRET_KEY}".encode()).digest()
    return base64.urlsafe_b64encode(digest)


@cache
def _fernet() -> MultiFernet:
    keys = [k.strip() for k in settings.CREDENTIALS_ENCRYPTION_KEYS if k.strip()]
    if not keys:
        if not settings.CREDENTIALS_KEY_FROM_SECRET:
            raise ImproperlyConfigured(
                "Set CREDENTIALS_ENCRYPTION_KEYS (Fernet keys, newest first)."
            )
        keys = [_derived_dev_key().decode()]
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(f"Invalid key in CREDENTIALS_ENCRYPTION_KEYS: {exc}") from exc


def reset_keys_cache() -> None:
    _fernet.cache_clear()
    decrypt_cached.cache_clear()


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError(
            "Stored credential cannot be decrypted with the configured keys."
        ) from exc


@lru_cache(maxsize=256)
def decrypt_cached(token: str) -> str:
    """``decrypt``, remembered per token for this process (cleared with the keys): a
    token always decrypts to the same text, and a changed secret is a new token. For
    values read on hot paths (a provider key per chat turn); the plain text is held no
    longer than the SDK client built from it, which is cached per key anyway."""
    return decrypt(token)


def rotate(token: str) -> str:
    """Re-encrypt ``token`` with the newest key."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError(
            "Stored credential cannot be decrypted with the configured keys."
        ) from exc
