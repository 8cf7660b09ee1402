"""Template filters for the account pages."""

from __future__ import annotations

import math
from datetime import timedelta

from django import template

register = template.Library()


@register.filter
def minutes(value: timedelta) -> str:
    """A cool-off period in whole minutes, rounded up: "15 minutes", "1 minute"."""
    count = max(1, math.ceil(value.total_seconds() / 60))
    return f"{count} minute{'s' if count != 1 else ''}"
