"""Privacy helpers: keyed hashing of user identifiers."""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["hash_user_id"]

_BUILTIN_KEY = b"otelytics.user.id.v1"


def hash_user_id(user_id: str, key: str | None = None) -> str:
    """``sha256:<32 hex>``: HMAC-SHA256 of the id, stable for one key.

    With the built-in key, ids that can be guessed can be confirmed by hashing guesses;
    set ``OTELYTICS_USER_ID_HASH_KEY`` to a secret to prevent that.
    """
    k = key.encode() if key else _BUILTIN_KEY
    digest = hmac.new(k, str(user_id).encode("utf-8"), hashlib.sha256).hexdigest()
    return f"sha256:{digest[:32]}"
