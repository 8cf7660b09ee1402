"""`{% credential_audit_trail %}`: the signed-in user's own audit trail, a small separate include
(templates/providers/_audit_trail.html) so the settings page's layout stays its own."""

from __future__ import annotations

from typing import Any

from django import template

from providers.audit import audit_trail_for_user

register = template.Library()


@register.inclusion_tag("providers/_audit_trail.html", takes_context=True)
def credential_audit_trail(context: template.Context, limit: int = 20) -> dict[str, Any]:
    user = context["request"].user
    events = list(audit_trail_for_user(user=user, limit=limit)) if user.is_authenticated else []
    return {"audit_events": events}
