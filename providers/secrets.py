"""`Secret`: a string that refuses to show itself.

Decrypted values travel inside `Secret` so that an accidental `repr()`, f-string, log line or
exception message shows a mask, not the value. Call `reveal()` at the one place the value is
put on the wire.
"""

from __future__ import annotations

import hashlib
import hmac


class Secret:
    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    @property
    def hint(self) -> str:
        return mask(self._value)

    def fingerprint(self, key: bytes) -> str:
        """A keyed, one-way fingerprint, safe to use in cache keys."""
        return hmac.new(key, self._value.encode(), hashlib.sha256).hexdigest()[:32]

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        # Bytes: `compare_digest` refuses str holding non-ASCII characters (TypeError), and a
        # client secret may hold any character.
        return isinstance(other, Secret) and hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return f"Secret({mask(self._value)!r})"

    __str__ = __repr__


def mask(value: str) -> str:
    """The hint shown for a stored secret: "…" and its last 4 characters, or "••••" alone when the
    secret is shorter than 12 characters (4 characters of a short secret give too much away)."""
    if not value:
        return ""
    return "…" + value[-4:] if len(value) >= 12 else "••••"
