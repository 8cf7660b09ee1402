"""Look and access in Chromium: screenshots at 1280 and 375 px, axe-core (0 serious or critical
violations), a strict Content-Security-Policy with no console errors, the top bar's height,
and no sideways scrolling on a phone."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.conf import settings as django_settings
from django.utils import timezone
from playwright.sync_api import expect

from providers.models import ProviderCredential, VerificationStatus
from providers.secrets import mask

from .conftest import log_in, shoot

pytestmark = pytest.mark.django_db(transaction=True)

# What the app must work under (the server's own policy, once configured, is checked as well).
STRICT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def enforce_strict_csp(page) -> None:
    """Serve every page with STRICT_CSP unless the server sends its own policy (then that one holds)."""

    def handle(route):
        response = route.fetch()
        headers = dict(response.headers)
        if "content-security-policy" not in {k.lower() for k in headers}:
            headers["content-security-policy"] = STRICT_CSP
        route.fulfill(response=response, headers=headers)

    page.route("**/*", handle)


@pytest.fixture
def staff(django_user_model):
    from .conftest import PASSWORD

    return django_user_model.objects.create_user("carol", password=PASSWORD, is_staff=True, is_superuser=True)


@pytest.fixture
def configured(staff, demo_gateway):
    """A verified OpenAI key, a failed Anthropic one, and one run in the history."""
    now = timezone.now()
    ProviderCredential.objects.create(
        owner=staff, provider="openai", api_key="sk-look-0000000000001111", secret_hint=mask("sk-look-0000000000001111"),
        status=VerificationStatus.VERIFIED, status_code="verified", verified_at=now, last_checked_at=now,
        # As a verify stores them now (what OpenAI reports: the owner), one old plain id among them.
        available_models=[{"id": "gpt-4o-mini", "owner": "system"}, {"id": "gpt-4o", "owner": "system"}, "o3"],
        priority=0,
    )  # fmt: skip
    ProviderCredential.objects.create(
        owner=staff, provider="anthropic", api_key="sk-ant-look-000000002222", secret_hint=mask("sk-ant-look-000000002222"),
        status=VerificationStatus.FAILED, status_code="invalid_credentials", last_checked_at=now,
        last_error="Invalid credentials: the provider rejected them.", priority=1,
    )  # fmt: skip
    from agents.catalog import AGENTS

    AGENTS["idea_critic"].run(staff, "a tool library for apartment blocks")
    return staff


def pages(base: str, run_pk: int) -> dict[str, str]:
    return {
        "settings": f"{base}/settings/providers/",
        "forge": f"{base}/forge/",
        "run": f"{base}/forge/runs/{run_pk}/",
        "usage": f"{base}/usage/",
        "admin": f"{base}/admin/",
    }


def serious(page) -> list[dict]:
    result = Axe().run(page)
    return [v for v in result.response["violations"] if v.get("impact") in ("serious", "critical")], result


def check_axe(page, name: str) -> None:
    found, result = serious(page)
    assert not found, f"{name}: {result.generate_report()}"


def test_screenshots_axe_and_layout(page, live_server, configured, screenshots):
    from agents.models import AgentRun

    run = AgentRun.objects.get()
    # Logged out: the login page.
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/accounts/login/")
    logged_out_bar = page.locator(".topbar").bounding_box()["height"]
    shoot(page, screenshots, "login")
    check_axe(page, "login")
    log_in(page, live_server.url)
    logged_in_bar = page.locator(".topbar").bounding_box()["height"]
    assert logged_in_bar <= logged_out_bar + 0.5, (logged_in_bar, logged_out_bar)
    print(f"\ntop bar at 1280 px: logged out {logged_out_bar:.0f} px, logged in {logged_in_bar:.0f} px")
    for name, url in pages(live_server.url, run.pk).items():
        response = page.goto(url)
        if name == "usage" and response.status == 404:
            continue  # the usage page comes with the monitoring work
        assert response.status == 200, (name, response.status)
        if name == "run":
            expect(page.locator(".assessment")).to_be_visible()
        shoot(page, screenshots, name)
        check_axe(page, name)
        page.set_viewport_size({"width": 375, "height": 812})
        overflow = page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= 375, f"{name} scrolls sideways at 375 px ({overflow} px wide)"
        print(f"{name}: document {overflow} px wide at 375 px")
        if name != "admin":
            check_axe(page, f"{name} at 375 px")
            # On a phone the links take a second row under the brand (test_narrow_nav.py checks
            # that nothing overflows); the height rule above is the desktop one.
            bar = page.locator(".topbar").bounding_box()["height"]
            assert bar <= 2 * logged_out_bar, f"{name}: top bar {bar} px tall at 375 px"
        page.set_viewport_size({"width": 1280, "height": 900})
    print(f"\nscreenshots written to {screenshots}")


def test_verify_buttons_have_distinct_names(logged_in, live_server):
    page = logged_in
    page.goto(f"{live_server.url}/settings/providers/")
    names = [b.get_attribute("aria-label") for b in page.locator("button[value=verify]").all()]
    assert len(names) >= 4 and len(set(names)) == len(names), names


def test_strict_csp_and_no_console_errors(page, live_server, configured, console_errors, demo_gateway):
    enforce_strict_csp(page)
    response = page.goto(f"{live_server.url}/accounts/login/")
    policy = response.headers.get("content-security-policy", "")
    assert "script-src" in policy or "default-src" in policy
    assert "'unsafe-inline'" not in policy.split("script-src")[-1].split(";")[0]
    if getattr(django_settings, "CONTENT_SECURITY_POLICY", None):
        assert response.headers.get("content-security-policy") != STRICT_CSP  # the server's own policy
    log_in(page, live_server.url)
    from agents.models import AgentRun

    run = AgentRun.objects.get()
    for name, url in pages(live_server.url, run.pk).items():
        response = page.goto(url)
        if name == "usage" and response.status == 404:
            console_errors.clear()  # the 404 of a page that is not there yet
            continue
    # The scripts do their work under the policy: verify in place, search models, run an agent.
    page.goto(f"{live_server.url}/settings/providers/")
    page.get_by_label("Search OpenAI models").fill("o3")
    expect(page.locator("#provider-openai [data-model-list] li:visible")).to_have_count(1)
    page.goto(f"{live_server.url}/forge/")
    page.get_by_label("Idea generator").check()
    page.get_by_label("Prompt").fill("tiny houses")
    page.get_by_role("button", name="Run").click()
    expect(page.locator("#live-answer ol > li")).to_have_count(5, timeout=20000)
    assert console_errors == [], console_errors


def test_dark_scheme_is_readable(browser, live_server, configured, screenshots):
    """prefers-color-scheme: dark swaps the colours; axe checks contrast there too."""
    from agents.models import AgentRun

    context = browser.new_context(color_scheme="dark", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        log_in(page, live_server.url)
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(18, 19, 26)", background
        for name in ("settings", "forge", "run"):
            page.goto(pages(live_server.url, AgentRun.objects.get().pk)[name])
            page.screenshot(path=str(screenshots / f"{name}-dark-1280.png"), full_page=True)
            check_axe(page, f"{name} (dark)")
    finally:
        context.close()
