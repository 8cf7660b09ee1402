"""Template context for the account links every page shows."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def signup(request: HttpRequest) -> dict[str, Any]:
    """`signup_open`: whether to link to the sign-up page (ACCOUNTS_SIGNUP_OPEN)."""
    return {"signup_open": settings.ACCOUNTS_SIGNUP_OPEN}
