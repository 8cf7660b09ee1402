"""Settings > AI providers: server-rendered pages, thin over `providers.services.credentials`.

Every action is a POST that redirects back (post-redirect-get) with a message saying exactly
what happened; a form with field errors is re-rendered in place (status 400) instead. Verify and
save spend the user's verification budget first (PROVIDERS_VERIFY_RATE_LIMIT): when it is spent
the page comes back with status 429 and nothing is checked or stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from . import registry, selectors
from .backends.base import BaseBackend
from .forms import BaseCredentialForm, OrderForm, PreferencesForm, credential_form_class, model_suggestions
from .models import ProviderCredential, VerificationStatus
from .reentry import NEEDS_REENTRY, NEEDS_REENTRY_TEXT, display_status, needs_reentry
from .services import credentials
from .tiers import TIERS
from .types import ModelInfo, VerificationOutcome


def _backend_or_404(provider: str) -> BaseBackend:
    try:
        return registry.get(provider)
    except KeyError:
        raise Http404("Unknown provider") from None


def _credential_or_404(user: Any, provider: str) -> ProviderCredential:
    try:
        return selectors.credential_get_for_user(user=user, provider=provider)
    except ProviderCredential.DoesNotExist:
        raise Http404("No credential for this provider") from None


def _add_errors(form: Form, exc: ValidationError) -> None:
    """Attach a service's field errors to the form (unknown field names become form errors)."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for name, errors in exc.message_dict.items():
        form.add_error(name if name in form.fields else None, errors)


def _back(provider: str | None = None) -> HttpResponse:
    url = reverse("providers:settings")
    return redirect(f"{url}#provider-{provider}" if provider else url)


def _card_tag(provider: str) -> str:
    """The message tag that puts a message at the top of a provider's card instead of the page's."""
    return f"card-{provider}"


@dataclass
class CardResult:
    """A verify or save outcome shown at the top of the card (the no-JS path re-renders the form)."""

    level: str
    text: str


@dataclass
class Section:
    """What the page shows for one provider."""

    backend: BaseBackend
    credential: ProviderCredential | None
    from_platform: bool
    credential_form: BaseCredentialForm
    preferences_form: PreferencesForm | None
    suggestions: list[ModelInfo]
    result: CardResult | None = None
    card_messages: list[Any] | None = None
    position: int = 0
    count: int = 0

    @property
    def needs_reentry(self) -> bool:
        c = self.credential
        return c is not None and (c.status_code == VerificationOutcome.DECRYPTION_FAILED.value or needs_reentry(c))

    @property
    def status_class(self) -> str:
        if self.needs_reentry:
            return "reentry"
        if self.credential is not None:
            status = display_status(self.credential)
            return "failed" if status == NEEDS_REENTRY else status
        return "platform" if self.from_platform else "none"

    @property
    def badge(self) -> str:
        """The short state word of the card's badge (the full text follows it)."""
        c = self.credential
        if c is None:
            return "Provided by the platform" if self.from_platform else "Not configured"
        if self.needs_reentry:
            return "Needs re-entry"
        return {VerificationStatus.VERIFIED: "Verified", VerificationStatus.FAILED: "Failed"}.get(
            c.status, "Unverified"
        )

    @property
    def is_first(self) -> bool:
        return self.position == 0

    @property
    def is_last(self) -> bool:
        return self.position == self.count - 1

    @property
    def verified(self) -> bool:
        """Recorded as verified and still usable (its secrets decrypt)."""
        return self.credential is not None and display_status(self.credential) == VerificationStatus.VERIFIED

    @property
    def status_text(self) -> str:
        c = self.credential
        if c is None:
            return "Provided by the platform" if self.from_platform else "Not configured"
        if needs_reentry(c):
            return NEEDS_REENTRY_TEXT
        if c.status == VerificationStatus.VERIFIED:
            return "Verified"
        if c.status == VerificationStatus.FAILED:
            return f"Failed: {c.last_error or 'verification failed'}"
        return "Unverified" + (f": {c.last_error}" if c.last_error else "")


def _sections(own_list: list[ProviderCredential], forms: dict[str, dict[str, Form]]) -> list[Section]:
    own = {c.provider: c for c in own_list}
    platform = {p.provider for p in selectors.platform_credentials()}
    sections = []
    # Configured providers first, in the user's order (the order agents try them), then the rest.
    rank = {c.provider: i for i, c in enumerate(own_list)}
    backends = sorted(registry.all_backends(), key=lambda b: rank.get(b.id, len(rank)))
    for backend in backends:
        credential = own.get(backend.id)
        bound = forms.get(backend.id, {})
        credential_form = bound.get("credential") or credential_form_class(backend)(
            stored=credential, prefix=backend.id
        )
        preferences_form = None
        if credential is not None:
            preferences_form = bound.get("preferences") or PreferencesForm(
                backend=backend, credential=credential, prefix=f"{backend.id}-prefs"
            )
        sections.append(
            Section(
                backend=backend,
                credential=credential,
                from_platform=backend.id in platform,
                credential_form=credential_form,
                preferences_form=preferences_form,  # type: ignore[arg-type]
                suggestions=model_suggestions(backend, credential),
                position=rank.get(backend.id, -1),
                count=len(own_list),
            )
        )
    return sections


def _named(credentials: list[ProviderCredential]) -> list[tuple[str, str]]:
    names = dict(registry.as_choices())
    return [(c.provider, names[c.provider]) for c in credentials if c.provider in names]


def _render_page(
    request: HttpRequest,
    *,
    forms: dict[str, dict[str, Form]] | None = None,
    order_form: OrderForm | None = None,
    result: tuple[str, CardResult] | None = None,
    status: int = 200,
) -> HttpResponse:
    own = list(selectors.credential_list_for_user(user=request.user))  # by priority
    sections = _sections(own, forms or {})
    configured = _named(own)
    # Messages tagged for a card go to that card; the rest stay at the top of the page.
    page_messages, by_card = [], {}
    for message in messages.get_messages(request):
        tag = next((t for t in message.extra_tags.split() if t.startswith("card-")), None)
        (by_card.setdefault(tag, []) if tag else page_messages).append(message)
    for section in sections:
        section.card_messages = by_card.get(_card_tag(section.backend.id), [])
        if result and result[0] == section.backend.id:
            section.result = result[1]
    context = {
        "page_messages": page_messages,
        "sections": sections,
        "has_own": bool(configured),
        "platform_names": [s.backend.name for s in sections if s.from_platform],
        "order_form": order_form or (OrderForm(providers=configured) if len(configured) > 1 else None),
    }
    return render(request, "providers/settings.html", context, status=status)


@login_required
def settings_page(request: HttpRequest) -> HttpResponse:
    return _render_page(request)


@sensitive_post_parameters()
@login_required
@require_POST
def credential_verify(request: HttpRequest, provider: str) -> HttpResponse:
    return _credential_action(request, provider, save=False)


@sensitive_post_parameters()
@login_required
@require_POST
def credential_save(request: HttpRequest, provider: str) -> HttpResponse:
    return _credential_action(request, provider, save=True)


@sensitive_variables()
def _credential_action(request: HttpRequest, provider: str, *, save: bool) -> HttpResponse:
    retry = credentials.credential_verify_budget(user=request.user)
    if retry is not None:
        messages.error(request, credentials.VERIFY_LIMITED.format(seconds=retry.seconds))
        response = _render_page(request, status=429)
        response["Retry-After"] = str(retry.seconds)
        return response
    backend = _backend_or_404(provider)
    stored = ProviderCredential.objects.filter(owner=request.user, provider=provider).first()
    form = credential_form_class(backend)(request.POST, stored=stored, prefix=backend.id)
    if form.is_valid():
        try:
            if save:
                save_unverified = request.POST.get("save_unverified") == "1"
                credential, result = credentials.credential_save(
                    user=request.user, provider=provider, data=form.to_input(), save_unverified=save_unverified
                )
            else:
                credential, result = (
                    None,
                    credentials.credential_verify_input(user=request.user, provider=provider, data=form.to_input()),
                )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            if credential is not None:
                level = messages.SUCCESS if result.ok else messages.WARNING
                text = (
                    f"{backend.name}: saved. {result.message}"
                    if result.ok
                    else f"{backend.name}: saved without verification. {result.message}"
                )
                messages.add_message(request, level, text, extra_tags=_card_tag(provider))
                return _back(provider)
            # Nothing stored: the page again with what was typed (never the secrets) and the result on the card.
            if save:
                card = CardResult(
                    "error", f"{backend.name}: {result.message} Nothing was saved; your stored credential is unchanged."
                )
            else:
                card = CardResult(
                    "success" if result.ok else "error", f"{backend.name}: {result.message} (Nothing was saved.)"
                )
            return _render_page(request, forms={backend.id: {"credential": form}}, result=(provider, card))
    return _form_errors(request, backend, form, section="credential")


def _form_errors(request: HttpRequest, backend: BaseBackend, form: Form, *, section: str) -> HttpResponse:
    """The page again (400) with `form` in the `section` of its provider's card, showing what to correct."""
    card = CardResult("error", f"{backend.name}: please correct the errors below. Nothing was changed.")
    return _render_page(request, forms={backend.id: {section: form}}, result=(backend.id, card), status=400)


@login_required
@require_POST
def credential_preferences(request: HttpRequest, provider: str) -> HttpResponse:
    backend = _backend_or_404(provider)
    credential = _credential_or_404(request.user, provider)
    form = PreferencesForm(request.POST, backend=backend, credential=credential, prefix=f"{provider}-prefs")
    if form.is_valid():
        data = dict(form.cleaned_data)
        if data.get("priority") is None:  # the page orders with up/down; keep the position
            data["priority"] = credential.priority
        try:
            credentials.credential_update_preferences(user=request.user, provider=provider, **data)
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, f"{backend.name}: preferences saved.", extra_tags=_card_tag(provider))
            unlisted = form.unlisted_models(credential.model_ids)
            if unlisted:
                messages.warning(
                    request,
                    f"{backend.name} did not list {', '.join(unlisted)}; agents will still try it.",
                    extra_tags=_card_tag(provider),
                )
            return _back(provider)
    return _form_errors(request, backend, form, section="preferences")


@login_required
@require_POST
def credential_enabled(request: HttpRequest, provider: str) -> HttpResponse:
    """The card's switch: `enabled=1` turns the credential on, anything else off."""
    backend = _backend_or_404(provider)
    credential = _credential_or_404(request.user, provider)
    enabled = request.POST.get("enabled") == "1"
    credentials.credential_update_preferences(
        user=request.user,
        provider=provider,
        default_model=credential.default_model,
        priority=credential.priority,
        enabled=enabled,
        **{f"{t}_model": credential.tier_model(t) for t in TIERS},
    )
    state = "enabled: agents may use it" if enabled else "disabled: agents will not use it"
    messages.success(request, f"{backend.name}: {state}.", extra_tags=_card_tag(provider))
    return _back(provider)


@login_required
@require_POST
def credential_refresh(request: HttpRequest, provider: str) -> HttpResponse:
    """Re-verify the stored credential, which also fetches the provider's model list again."""
    backend = _backend_or_404(provider)
    credential = _credential_or_404(request.user, provider)
    result = credentials.credential_verify(credential=credential)
    level = messages.SUCCESS if result.ok else messages.ERROR
    messages.add_message(request, level, f"{backend.name}: {result.message}", extra_tags=_card_tag(provider))
    return _back(provider)


@login_required
@require_http_methods(["GET", "POST"])
def credential_delete(request: HttpRequest, provider: str) -> HttpResponse:
    """GET asks for confirmation; POST removes."""
    backend = _backend_or_404(provider)
    credential = _credential_or_404(request.user, provider)
    if request.method == "POST":
        credentials.credential_delete(user=request.user, provider=provider)
        messages.success(request, f"{backend.name}: credential removed.")
        return _back()
    return render(request, "providers/confirm_delete.html", {"backend": backend, "credential": credential})


@login_required
@require_POST
def credential_order(request: HttpRequest) -> HttpResponse:
    """Up/down buttons (`move` = "up" or "down" with `provider`), or every position at once."""
    own = [c.provider for c in selectors.credential_list_for_user(user=request.user)]
    move, provider = request.POST.get("move"), request.POST.get("provider", "")
    if move is not None:
        if move not in ("up", "down") or provider not in own:
            messages.error(request, "Unknown provider or direction. Nothing was changed.")
            return _back()
        i = own.index(provider)
        j = i - 1 if move == "up" else i + 1
        if 0 <= j < len(own):
            own[i], own[j] = own[j], own[i]
            credentials.credential_set_order(user=request.user, providers=own)
        messages.success(request, f"Order saved: {', '.join(dict(registry.as_choices())[p] for p in own)}.")
        return _back(provider)
    form = OrderForm(request.POST, providers=_named(list(selectors.credential_list_for_user(user=request.user))))
    if form.is_valid():
        credentials.credential_set_order(user=request.user, providers=form.ordered_providers())
        messages.success(request, "Order of preference saved.")
        return _back()
    messages.error(request, "Please correct the order below. Nothing was changed.")
    return _render_page(request, order_form=form, status=400)
