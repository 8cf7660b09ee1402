"""Settings > AI providers in Chromium: verify and save in place, models from the discovered list,
and the no-JavaScript path."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from providers.models import ProviderCredential, VerificationStatus
from providers.testing.gateway_simulator import GatewaySimulator

from .conftest import log_in

pytestmark = pytest.mark.django_db(transaction=True)

CLIENT_ID = "browser-client-id-77"
CLIENT_SECRET = "browser-secret-value-5150"


@pytest.fixture
def gateway():
    with GatewaySimulator(client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as sim:
        yield sim


def fill_gateway(page, sim, *, secret: str = CLIENT_SECRET) -> None:
    card = page.locator("#provider-ai_gateway")
    card.get_by_label("Client ID").fill(CLIENT_ID)
    card.get_by_label("Client secret").fill(secret)
    card.get_by_label("Base URL").fill(sim.base_url)
    card.get_by_label("Token URL").fill(sim.token_url)


def test_verify_and_save_in_place_then_pick_tier_models(
    logged_in, live_server, gateway, user, console_errors, screenshots
):
    page = logged_in
    page.goto(f"{live_server.url}/settings/providers/")
    card = page.locator("#provider-ai_gateway")
    gateway.token_delay = 1.6  # a slow IdP: the page must show signs of life meanwhile
    fill_gateway(page, gateway)
    verify = card.get_by_role("button", name="Verify AI Gateway (service account)")
    url_before = page.url
    verify.click()
    expect(verify).to_be_disabled()
    expect(card.locator("[data-progress]")).to_be_visible()
    expect(card.locator("[data-elapsed]")).to_contain_text("1 s", timeout=3000)
    result = card.locator("[data-form-result]")
    expect(result).to_contain_text("Verified: the provider offers 3 models.", timeout=10000)
    expect(result).to_contain_text("Nothing was saved")
    # Discovered, shown in place, with what the gateway reports (owner, context length).
    expect(result.locator("li code")).to_have_text(["sim-fast", "sim-standard", "sim-premium"])
    expect(result.locator("li").first).to_contain_text("owned by openai · 128k context")
    expect(verify).to_be_enabled()
    assert page.url == url_before  # in place: no navigation
    # What was typed is still there, the secret included (it was never sent back by the server).
    expect(card.get_by_label("Base URL")).to_have_value(gateway.base_url)
    expect(card.get_by_label("Client secret")).to_have_value(CLIENT_SECRET)
    assert not ProviderCredential.objects.exists()

    gateway.token_delay = 0
    page.evaluate("window.noReloadMarker = 1")
    card.get_by_role("button", name="Save AI Gateway (service account)", exact=True).click()
    # The first save swaps the card in place (no reload): the result at its top, the state badge,
    # the discovered models (searchable, with owner and context) and the tier pickers.
    expect(card.locator(".card-result")).to_contain_text("saved. Verified", timeout=10000)
    expect(card.locator("[data-badge]")).to_have_text("Verified")
    expect(card.get_by_label("Client secret")).to_have_value("")  # stored: the secret leaves the page
    credential = ProviderCredential.objects.get(owner=user, provider="ai_gateway")
    assert credential.status == VerificationStatus.VERIFIED
    assert page.url == url_before
    models = card.locator("[data-model-list] li")
    expect(models).to_have_count(3)
    expect(models.nth(2)).to_have_text("sim-premium owned by google · 1M context")
    card.get_by_label("Search AI Gateway (service account) models").fill("prem")
    expect(card.locator("[data-model-list] li:visible")).to_have_count(1)
    options = page.locator("#models-ai_gateway option")
    assert [options.nth(i).get_attribute("value") for i in range(options.count())] == [
        "sim-fast",
        "sim-standard",
        "sim-premium",
    ]
    assert options.nth(1).get_attribute("label") == "owned by anthropic · 200k context"
    assert page.evaluate("window.noReloadMarker") == 1  # the same document: nothing reloaded
    card.screenshot(path=str(screenshots / "settings-gateway-discovered-1280.png"))
    card.get_by_label("Fast tier model").fill("sim-fast")
    card.get_by_label("Premium tier model").fill("sim-premium")
    standard = card.get_by_label("Standard tier model")
    standard.fill("not-a-listed-model")
    expect(standard.locator("xpath=..").locator("[data-unlisted]")).to_contain_text("did not list")
    standard.fill("sim-standard")
    expect(standard.locator("xpath=..").locator("[data-unlisted]")).to_have_text("")
    card.get_by_role("button", name="Save AI Gateway (service account) models").click()
    expect(card.locator(".card-result")).to_contain_text("preferences saved")
    credential.refresh_from_db()
    assert (credential.fast_model, credential.standard_model, credential.premium_model) == (
        "sim-fast",
        "sim-standard",
        "sim-premium",
    )
    assert CLIENT_SECRET not in page.content()
    assert console_errors == []


def test_no_javascript_verify_returns_to_the_card_with_fields_kept(browser, live_server, gateway, user):
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        log_in(page, live_server.url)
        page.goto(f"{live_server.url}/settings/providers/")
        card = page.locator("#provider-ai_gateway")
        fill_gateway(page, gateway)
        card.get_by_label("Base URL").fill("ftp://x")  # a typo
        card.get_by_label("Scope").fill("my-scope")
        with page.expect_navigation():
            card.get_by_role("button", name="Verify AI Gateway (service account)").click()
        assert page.url.endswith("#provider-ai_gateway")
        notice = card.locator(".card-result .notice")
        expect(notice).to_contain_text("Nothing was changed")
        # The result is on screen (top of the card scrolled into view), not above the viewport.
        box = notice.bounding_box()
        assert box is not None and 0 <= box["y"] < 800, box
        expect(card.get_by_label("Base URL")).to_have_value("ftp://x")
        expect(card.get_by_label("Scope")).to_have_value("my-scope")
        expect(card.get_by_label("Token URL")).to_have_value(gateway.token_url)
        expect(card.get_by_label("Client secret")).to_have_value("")  # secrets are never re-rendered
        # Fix the typo, save: back on the card with the result at its top.
        fill_gateway(page, gateway)
        with page.expect_navigation():
            card.get_by_role("button", name="Save AI Gateway (service account)", exact=True).click()
        expect(card.locator(".card-result")).to_contain_text("saved. Verified")
        expect(card.locator("[data-badge]")).to_have_text("Verified")
        assert ProviderCredential.objects.filter(owner=user, status=VerificationStatus.VERIFIED).count() == 1
    finally:
        context.close()
