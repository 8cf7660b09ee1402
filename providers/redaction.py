"""The one rule for text from outside that may carry a secret.

Provider error bodies, SDK and HTTP library exceptions and Agno's log lines are written by
others, and a provider may echo the key it was sent. Such text goes through `redact()` before it
is shown, stored, raised or logged as one line; log records, whose layout is kept, go through
`scrub()`. Both apply the same rule:

1. Known secrets (the ones the caller holds) first, longest first so no tail of a longer one
   survives; each as it is, form-encoded (as an OAuth2 request body carries it, and a server may
   echo it that way), and its first 8 characters alone (a prefix such as "sk-proj-" identifies a
   key too, and providers echo keys masked after their prefix).
2. Then anything shaped like a credential, known or not: provider key prefixes, AWS access key
   ids (also inside a longer word), bearer tokens and long opaque runs, `/` and `+` included
   (`_SECRETISH`: an AWS secret access key is 40 such characters; a run of only a few distinct
   characters, such as padding or a separator line, is no token and stays), the value after a
   credential-like name (`password=...`, `"client_secret": "..."`: `_LABELLED`), and Agno's
   `redact_secrets` (more vendors' key shapes, `api_key=...`, the password of a URL).

Every replacement is "[redacted]". `redact` then makes the text one line (control characters and
runs of whitespace become one space, so nothing can forge a log line) and clips it to `limit`
characters, ending in "…".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote_plus

from django.views.decorators.debug import sensitive_variables

from .secrets import Secret

REDACTED = "[redacted]"
#: The default bound of `redact`: a provider's error type and message, or one exception message.
DETAIL_LIMIT = 200
# How much of a known secret's start is redacted on its own.
_PREFIX = 8
_SECRETISH = re.compile(
    r"(?:sk-|sk-ant-|AIza|ya29\.|Bearer\s+)[\w\-.~+/=]*"
    r"|(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ABIA|ACCA)[A-Z0-9]{16}"
    r"|(?P<run>[A-Za-z0-9_\-+=/]{32,})"
)
# A credential-like name, then "=" or ":" (JSON quotes allowed), then its value.
_LABELLED = re.compile(
    r"""(?P<name>\b(?:password|passwd|pwd|passphrase|client[-_]?secret|client[-_]?id|refresh[-_]?token|id[-_]?token"""
    r"""|private[-_]?key|secret[-_]?access[-_]?key|aws[-_]?secret[-_]?access[-_]?key|session[-_]?token"""
    r"""|authorization|x-api-key|x-goog-api-key)["']?\s*[=:]\s*)(?:(?:basic|bearer|digest)\s+)?(?:"[^"]*"|'[^']*'|[^\s,;&"']+)""",
    re.IGNORECASE,
)
# A long run with fewer distinct characters than this is not a key or token.
_RUN_MIN_DISTINCT = 4
# C0 and C1 control characters (a C1 NEL ends a line for some readers).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")

SecretLike = Secret | str | None


# Both hold the known secrets in clear while they work: hidden from error reports.
@sensitive_variables()
def redact(text: str, *, secrets: Iterable[SecretLike] = (), limit: int = DETAIL_LIMIT) -> str:
    """`text` without `secrets` or anything credential-shaped, made one line of at most `limit`
    characters: fit to show, store, raise or log."""
    forms = _known_forms(secrets)
    text = " ".join(_CONTROL.sub(" ", _scrub(text, forms)).split())
    # Again on the flattened text: a control character may have split a shape ("Bearer\x00…").
    text = _scrub(text, forms)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@sensitive_variables()
def scrub(text: str, *, secrets: Iterable[SecretLike] = ()) -> str:
    """`text` without `secrets` or anything credential-shaped, otherwise unchanged (for log
    records, whose lines and spacing are kept)."""
    return _scrub(text, _known_forms(secrets))


def _scrub(text: str, forms: list[str]) -> str:
    from agno.exceptions import redact_secrets  # on first use: importing agno is slow

    for form in forms:
        text = text.replace(form, REDACTED)
    text = _LABELLED.sub(lambda m: m.group("name") + REDACTED, text)
    return redact_secrets(_SECRETISH.sub(_blank, text))


def _blank(match: re.Match[str]) -> str:
    run = match.group("run")
    return run if run is not None and len(set(run)) < _RUN_MIN_DISTINCT else REDACTED


def _known_forms(secrets: Iterable[SecretLike]) -> list[str]:
    """Every string to remove for the known `secrets`, longest first."""
    forms: set[str] = set()
    for secret in secrets:
        value = secret.reveal() if isinstance(secret, Secret) else secret
        if not value:
            continue
        forms.update((value, quote_plus(value)))
        if len(value) > _PREFIX:
            forms.add(value[:_PREFIX])
    return sorted(forms, key=len, reverse=True)
