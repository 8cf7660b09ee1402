"""providers.redaction: the one rule for outside text that may carry a secret."""

from __future__ import annotations

from urllib.parse import quote_plus

import pytest

from providers.redaction import DETAIL_LIMIT, redact, scrub
from providers.secrets import Secret

KEY = "sk-CANARY-7f3e9a1b2c4d"


def test_redact_strips_control_characters_and_keys():
    assert redact("bad\r\nkey AIzaSyA-very-secret-looking-value") == "bad key [redacted]"
    assert len(redact("x" * 1000)) <= 200


def test_known_secrets_go_longest_first_as_secret_or_string():
    # The shorter secret is the start of the longer one: no tail of the longer may survive.
    text = redact(f"got {KEY}-extra and {KEY}", secrets=(KEY, Secret(KEY + "-extra"), None, ""))
    assert text == "got [redacted] and [redacted]"


def test_known_secret_forms_encoded_and_prefix():
    secret = "s3cr+t/with:colon=eq%25pct é-end"
    text = redact(
        f"body client_secret={quote_plus(secret)}; raw {secret}; masked s3cr+t/w****end", secrets=(Secret(secret),)
    )
    assert secret not in text and quote_plus(secret) not in text and secret[:8] not in text
    assert "s3cr+t/" not in text.replace("[redacted]", "")


def test_short_known_secret_has_no_separate_prefix():
    assert redact("id abc12345 and abc1234", secrets=("abc12345",)) == "id [redacted] and abc1234"


@pytest.mark.parametrize(
    "text",
    [
        "Incorrect API key provided: sk-proj-abcdefgh1234",  # ours and Agno's
        "Authorization: Bearer abcdefghijklmnop",
        "token ya29.a0AfH6SMBx",  # ours only
        "opaque " + "A1b2" * 8,  # a 32-character run
        "api_key=hunter2",  # Agno's only
        "https://user:hunter2@example.com/v1",
        "AKIAIOSFODNN7EXAMPLE",
        "hf_abcdefghijklmnop",
    ],
)
def test_credential_shapes_are_redacted(text):
    assert "[redacted]" in redact(text)
    assert "[redacted]" in scrub(text)


def test_a_long_run_of_few_distinct_characters_is_kept():
    # Padding and separator lines are no tokens; anything with the variety of one is.
    assert redact("=" * 40 + " " + "-" * 40 + " " + "ab" * 20) == "=" * 40 + " " + "-" * 40 + " " + "ab" * 20
    assert redact("0123" * 8) == "[redacted]"


def test_a_control_character_cannot_hide_a_shape():
    assert "abcdefghijklmnop" not in redact("Bearer\x00abcdefghijklmnop")


def test_redact_makes_one_bounded_line():
    text = redact("a\x00b\x1bc\x85d\u2028e\t\tf\r\n g" + " h" * 300)
    assert text.startswith("a b c d e f g h") and "  " not in text
    assert len(text) == DETAIL_LIMIT and text.endswith("…")
    assert len(redact("y " * 400, limit=30)) == 30
    assert redact("short", limit=30) == "short"


def test_scrub_keeps_the_layout():
    text = scrub(f"line one\n  line two with {KEY}\tend", secrets=(KEY,))
    assert text == "line one\n  line two with [redacted]\tend"
