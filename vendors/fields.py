"""A JSON field encrypted at rest with Fernet keys from the environment (``CREDENTIALS_KEYS``).

Values are encrypted with the first key and decrypted with any of them (``MultiFernet``), so a key is
rotated by putting the new key first, re-encrypting (``manage.py rotate_credentials``) and then removing
the old key. The database never holds a secret in clear text.
"""

from __future__ import annotations

import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


def fernet() -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode()) for key in settings.CREDENTIALS_KEYS])
    except (ValueError, TypeError):
        raise ImproperlyConfigured(
            "CREDENTIALS_KEYS: each key must be a Fernet key (32 url-safe base64-encoded bytes)"
        ) from None


def encrypt(value: dict) -> str:
    return fernet().encrypt(json.dumps(value, sort_keys=True).encode()).decode()


def decrypt(token: str) -> dict:
    try:
        return json.loads(fernet().decrypt(token.encode()))
    except InvalidToken:
        raise ImproperlyConfigured(
            "CREDENTIALS_KEYS: no key decrypts the stored credentials (was a key removed before rotation?)"
        ) from None


def rotate(token: str) -> str:
    return fernet().rotate(token.encode()).decode()


class StoredDict(dict):
    """A dict read from the database, which remembers its token: saved unchanged, it is written back
    as the same token. (Fernet encrypts with a fresh nonce each time: without this, every save of an
    account would look like a change of its credentials to the audit trigger.)"""

    def __init__(self, value: dict, token: str):
        super().__init__(value)
        self.token = token
        self.stored = json.dumps(value, sort_keys=True)

    def unchanged(self) -> bool:
        return json.dumps(self, sort_keys=True) == self.stored


class EncryptedJSONField(models.TextField):
    """Holds a dict; stored as a Fernet token. Never shown back in forms (see the admin)."""

    def from_db_value(self, value, expression, connection):
        if value in (None, ""):
            return {}
        return StoredDict(decrypt(value), value)

    def to_python(self, value):
        if isinstance(value, dict):
            return value
        if value in (None, ""):
            return {}
        return decrypt(value)

    def get_prep_value(self, value):
        if isinstance(value, StoredDict) and value.unchanged():
            return value.token
        return encrypt(value or {})

    def value_to_string(self, obj):
        # Serialization (dumpdata) writes the encrypted token, never the clear value.
        return self.get_prep_value(self.value_from_object(obj))
