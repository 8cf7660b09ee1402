"""JSON endpoints for the same flows as the settings page.

Session-authenticated with CSRF enforced (header `X-CSRFToken`, cookie from any page or from
`GET /api/providers`). Anonymous requests get 401 JSON and a failed CSRF check 403 JSON, never
a redirect or an HTML page. Bad input gives 400 `{"errors": {field: [...]}}` and changes
nothing. No response ever contains a secret: credentials are shown masked (`hint`). Verify and
configure spend the user's verification budget first (PROVIDERS_VERIFY_RATE_LIMIT): 429 with
`Retry-After` when it is spent. Their locals are hidden from error reports (the body holds secrets).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt, ensure_csrf_cookie
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from . import registry, selectors
from .models import ProviderCredential
from .reentry import display_status
from .services import credentials
from .services.credential_input import MODEL_MAX, CredentialInput
from .tiers import TIERS
from .types import VerificationResult

logger = logging.getLogger(__name__)

STRING_FIELDS = (
    "api_key",
    "client_id",
    "client_secret",
    "base_url",
    "token_url",
    "scope",
    "token_auth_method",
    "default_model",
)
ALL = "__all__"


def _errors(status: int, errors: dict[str, list[str]]) -> JsonResponse:
    return JsonResponse({"errors": errors}, status=status)


class _CsrfCheck(CsrfViewMiddleware):
    """Django's own CSRF check, answering with the reason instead of an HTML 403 page."""

    def _reject(self, request: HttpRequest, reason: str) -> str:  # type: ignore[override]
        return reason


def _csrf_failure(request: HttpRequest) -> str | None:
    check = _CsrfCheck(lambda req: HttpResponse())
    check.process_request(request)
    return check.process_view(request, None, (), {})  # type: ignore[arg-type,return-value]


def json_endpoint(*methods: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Allowed methods, login (401) and CSRF (403) as JSON; unexpected errors never leak."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @csrf_exempt  # checked below, so a failure is JSON rather than the HTML failure view
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                response = _errors(405, {ALL: [f"Method {request.method} not allowed."]})
                response["Allow"] = ", ".join(methods)
                return response
            if not request.user.is_authenticated:
                return _errors(401, {ALL: ["Authentication required: log in first."]})
            if request.method not in ("GET", "HEAD", "OPTIONS") and _csrf_failure(request) is not None:
                return _errors(
                    403, {ALL: ["CSRF check failed: send the X-CSRFToken header with the csrftoken cookie's value."]}
                )
            try:
                return view(request, *args, **kwargs)
            except Exception as exc:  # a bug; log its type only (a message could quote input)
                logger.error("providers API %s %s failed: %s", request.method, view.__name__, type(exc).__name__)
                return _errors(500, {ALL: ["Internal error; nothing was changed."]})

        return wrapper

    return decorator


def _parse_body(request: HttpRequest) -> dict[str, Any] | JsonResponse:
    try:
        payload = json.loads(request.body or b"")
    except (ValueError, UnicodeDecodeError):
        return _errors(400, {ALL: ["The body must be valid JSON."]})
    if not isinstance(payload, dict):
        return _errors(400, {ALL: ["The body must be a JSON object."]})
    return payload


def _credential_input(payload: dict[str, Any]) -> tuple[str, CredentialInput] | JsonResponse:
    errors: dict[str, list[str]] = {}
    provider = payload.get("provider")
    if not provider:
        errors["provider"] = ["This field is required."]
    elif not isinstance(provider, str) or provider not in dict(registry.as_choices()):
        errors["provider"] = [f"Unknown provider; choose one of: {', '.join(dict(registry.as_choices()))}."]
    for name in STRING_FIELDS:
        if payload.get(name) is not None and not isinstance(payload[name], str):
            errors[name] = ["Must be a string."]
    if errors:
        return _errors(400, errors)
    values = {name: payload.get(name) for name in STRING_FIELDS}
    return provider, CredentialInput(**values)


def _credential_request(request: HttpRequest) -> tuple[dict[str, Any], str, CredentialInput] | JsonResponse:
    """The body of a verify or configure request and the credential input in it, or the 400 to answer."""
    payload = _parse_body(request)
    if isinstance(payload, JsonResponse):
        return payload
    parsed = _credential_input(payload)
    if isinstance(parsed, JsonResponse):
        return parsed
    provider, data = parsed
    return payload, provider, data


def _verify_budget_spent(request: HttpRequest) -> JsonResponse | None:
    """The 429 to answer when the user's verification budget is spent (checked before any outbound request)."""
    retry = credentials.credential_verify_budget(user=request.user)
    if retry is None:
        return None
    response = _errors(429, {ALL: [credentials.VERIFY_LIMITED.format(seconds=retry.seconds)]})
    response["Retry-After"] = str(retry.seconds)
    return response


def _result_json(result: VerificationResult) -> dict[str, Any]:
    data: dict[str, Any] = {
        "ok": result.ok,
        "outcome": result.outcome.value,
        "message": result.message,
        "models": result.model_ids,
        # What the provider reported about each (owner, display name, context length where given).
        "model_details": [m.as_json() for m in result.models],
    }
    if result.retry_after is not None:
        data["retry_after"] = result.retry_after
    return data


def masked_credential(credential: ProviderCredential) -> dict[str, Any]:
    """A stored credential as JSON: settings, status and hints; never a secret."""
    return {
        "provider": credential.provider,
        "name": credential.get_provider_display(),
        "source": "user",
        # "needs_reentry" when a stored secret no longer decrypts (providers.reentry).
        "status": display_status(credential),
        "status_code": credential.status_code,
        "hint": credential.secret_hint,
        "client_id_hint": credential.client_id_hint,
        "verified_at": credential.verified_at.isoformat() if credential.verified_at else None,
        "last_checked_at": credential.last_checked_at.isoformat() if credential.last_checked_at else None,
        "last_error": credential.last_error,
        "models": credential.model_ids,
        "model_details": [m.as_json() for m in credential.model_infos],
        "default_model": credential.default_model,
        "tier_models": {t: credential.tier_model(t) for t in TIERS},
        "priority": credential.priority,
        "enabled": credential.enabled,
        "base_url": credential.base_url,
        "token_url": credential.token_url,
        "scope": credential.scope,
        "token_auth_method": credential.token_auth_method,
    }


@ensure_csrf_cookie
@json_endpoint("GET")
def provider_list(request: HttpRequest) -> HttpResponse:
    own = list(selectors.credential_list_for_user(user=request.user))
    items = [masked_credential(c) for c in own]
    mine = {c.provider for c in own}
    names = dict(registry.as_choices())
    for platform in selectors.platform_credentials():
        if platform.provider not in mine:
            items.append(
                {
                    "provider": platform.provider,
                    "name": names.get(platform.provider, platform.provider),
                    "source": "platform",
                    "status": "platform",
                    "hint": "",
                    "verified_at": None,
                    "models": [],
                    "model_details": [],
                    "default_model": platform.default_model,
                    "tier_models": {t: platform.tier_models.get(t, "") for t in TIERS},
                    "priority": platform.priority,
                    "enabled": True,
                }
            )
    return JsonResponse({"providers": items})


@sensitive_post_parameters()
@json_endpoint("POST")
@sensitive_variables()
def provider_verify(request: HttpRequest) -> HttpResponse:
    limited = _verify_budget_spent(request)
    if limited is not None:
        return limited
    parsed = _credential_request(request)
    if isinstance(parsed, JsonResponse):
        return parsed
    _payload, provider, data = parsed
    try:
        result = credentials.credential_verify_input(user=request.user, provider=provider, data=data)
    except ValidationError as exc:
        return _errors(400, exc.message_dict)
    return JsonResponse(_result_json(result))


def _preferences(payload: dict[str, Any]) -> dict[str, Any] | JsonResponse:
    """The optional `models` / `priority` / `enabled` of a configure request, type-checked."""
    errors: dict[str, list[str]] = {}
    prefs: dict[str, Any] = {}
    models = payload.get("models")
    if models is not None:
        if not isinstance(models, dict) or any(k not in TIERS or not isinstance(v, str) for k, v in models.items()):
            errors["models"] = [f"An object mapping tiers ({', '.join(TIERS)}) to model ids."]
        else:
            prefs.update({f"{tier}_model": value for tier, value in models.items()})
    priority = payload.get("priority")
    if priority is not None:
        if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 32767:
            errors["priority"] = ["Enter a whole number between 0 and 32767."]
        else:
            prefs["priority"] = priority
    for name in ("enabled", "save_unverified"):
        if payload.get(name) is not None and not isinstance(payload[name], bool):
            errors[name] = ["Must be true or false."]
    if payload.get("enabled") is not None and "enabled" not in errors:
        prefs["enabled"] = payload["enabled"]
    for name, value in prefs.items():
        if name.endswith("_model") and len(value) > MODEL_MAX:
            errors.setdefault("models", []).append(f"{name}: at most {MODEL_MAX} characters.")
    return _errors(400, errors) if errors else prefs


@sensitive_post_parameters()
@json_endpoint("POST")
@sensitive_variables()
def provider_configure(request: HttpRequest) -> HttpResponse:
    limited = _verify_budget_spent(request)
    if limited is not None:
        return limited
    parsed = _credential_request(request)
    if isinstance(parsed, JsonResponse):
        return parsed
    payload, provider, data = parsed
    prefs = _preferences(payload)
    if isinstance(prefs, JsonResponse):
        return prefs
    try:
        credential, result = credentials.credential_save(
            user=request.user,
            provider=provider,
            data=data,
            save_unverified=bool(payload.get("save_unverified")),
        )
    except ValidationError as exc:
        return _errors(400, exc.message_dict)
    body = _result_json(result)
    if credential is None:
        body.update(saved=False, credential=None)
        return JsonResponse(body, status=422)
    if prefs:
        current = {
            "default_model": credential.default_model,
            "priority": credential.priority,
            "enabled": credential.enabled,
            **{f"{t}_model": credential.tier_model(t) for t in TIERS},
        }
        credential = credentials.credential_update_preferences(
            user=request.user, provider=provider, **{**current, **prefs}
        )
    body.update(saved=True, credential=masked_credential(credential))
    return JsonResponse(body, status=200)


@json_endpoint("DELETE")
def provider_delete(request: HttpRequest, provider: str) -> HttpResponse:
    try:
        credentials.credential_delete(user=request.user, provider=provider)
    except ProviderCredential.DoesNotExist:
        return _errors(404, {"provider": ["You have no credential for this provider."]})
    return HttpResponse(status=204)
