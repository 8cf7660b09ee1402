"""The pages in a real browser under the strict CSP: they load without console errors or CSP
violations, and the login form works (and locks out). The Forge page follows once its script
and style are static files."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "op-password-123"


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_superuser("operator", password=PASSWORD)


def visit(page, url: str) -> dict[str, str]:
    response = page.goto(url)
    assert response is not None and response.ok, f"{url}: {response and response.status}"
    return response.headers


def assert_strict_csp(headers: dict[str, str]) -> None:
    policy = headers.get("content-security-policy", "")
    assert "default-src 'self'" in policy and "script-src 'self'" in policy and "unsafe-inline" not in policy


def test_login_then_settings_and_admin_pages(live_server, page, operator, problems, csp_violations):
    assert_strict_csp(visit(page, f"{live_server.url}/accounts/login/"))
    # A wrong password: the form says so.
    page.fill("#id_username", "operator")
    page.fill("#id_password", "not-the-password")
    page.click("button[type=submit]")
    assert page.locator(".errorlist").count() == 1
    # The right one lands on the settings page.
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation(url="**/settings/providers/") as navigation:
        page.click("button[type=submit]")
    assert_strict_csp(navigation.value.headers)
    assert page.locator("h1").inner_text() == "AI providers"
    assert page.get_by_role("button", name="Log out operator").is_visible()
    for path in (
        "/admin/",
        "/admin/providers/providercredential/",
        "/admin/providers/providercredential/add/",
        "/admin/auth/user/",
        f"/admin/auth/user/{operator.pk}/change/",
    ):
        assert_strict_csp(visit(page, live_server.url + path))
        assert not csp_violations(), path
    # Admin JavaScript runs under the policy: the theme toggle and the collapsible fieldset.
    visit(page, f"{live_server.url}/admin/providers/providercredential/add/")
    page.locator("button.theme-toggle").first.click()
    page.get_by_text("AI Gateway connection").click()
    assert page.locator("#id_base_url").is_visible()
    assert not csp_violations()
    assert not problems, "\n".join(problems)


def test_the_lockout_page_renders_cleanly(live_server, page, operator, problems, csp_violations, settings):
    settings.AXES_FAILURE_LIMIT = 2
    visit(page, f"{live_server.url}/accounts/login/")
    for _ in range(2):
        page.fill("#id_username", "operator")
        page.fill("#id_password", "not-the-password")
        page.click("button[type=submit]")
    assert page.locator("h1").inner_text() == "Too many failed log-in attempts"
    assert not csp_violations()
    # The 429 itself is a console error ("Failed to load resource"); nothing else may be.
    assert [p for p in problems if "429" not in p] == []
