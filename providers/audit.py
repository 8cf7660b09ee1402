"""The credential audit trail: one append-only `CredentialAuditEvent` per audited change.

Called by the providers services only (views, the admin, tasks and commands go through them),
so every path that changes a credential leaves its entry. Who acted comes from the request
context (providers/context.py): the owner ("user"), someone else signed in, i.e. staff in the
admin ("operator"), an operator at the shell (`acting_as`), or nobody: "system" (Celery tasks,
key rotation, a token endpoint rejecting a client). Only field *names* and outcome codes are
written, never a value: no secret or ciphertext can reach the table.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet

from . import context
from .models import ActorKind, AuditAction, CredentialAuditEvent, ProviderCredential


def _actor(owner_id: int | None) -> tuple[str, Any, str]:
    """(kind, user or None, name) of whoever is acting now."""
    current = context.current()
    user = getattr(current.request, "user", None)
    if user is not None and user.is_authenticated:
        kind = ActorKind.USER if user.pk == owner_id else ActorKind.OPERATOR
        return kind, user, user.get_username()
    if current.operator_label:
        return ActorKind.OPERATOR, None, current.operator_label[:150]
    return ActorKind.SYSTEM, None, ""


def audit(
    action: AuditAction,
    *,
    credential: ProviderCredential | None = None,
    owner: Any = None,
    provider: str = "",
    fields: Iterable[str] = (),
    outcome: str = "",
) -> CredentialAuditEvent:
    """Record one audited change. `fields` are names only (a list of provider ids for a reorder)."""
    if credential is not None:
        owner = owner if owner is not None else credential.owner
        provider = provider or credential.provider
    owner_id = getattr(owner, "pk", None)
    kind, actor, actor_name = _actor(owner_id)
    current = context.current()
    return CredentialAuditEvent.objects.create(
        credential=credential if credential is not None and credential.pk else None,
        owner=owner,
        owner_name=owner.get_username() if owner is not None else "",
        provider=provider,
        action=action,
        fields=sorted(set(fields)) if action != AuditAction.REORDER else list(fields),
        outcome=str(outcome)[:32],
        actor_kind=kind,
        actor=actor,
        actor_name=actor_name,
        ip_address=current.ip if actor is not None else None,
        request_id=current.request_id[:64],
    )


def audit_trail_for_user(*, user: Any, limit: int = 20) -> QuerySet[CredentialAuditEvent]:
    """A user's own trail, newest first (the settings page)."""
    return CredentialAuditEvent.objects.filter(owner=user).order_by("-created_at", "-id")[:limit]
