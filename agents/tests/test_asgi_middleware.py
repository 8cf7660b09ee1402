"""Django's middleware with its hooks on the event loop (`ideaforge.middleware`), under a real
uvicorn: the headers, the slash redirect, CSRF, login and messages behave as Django's own."""

from __future__ import annotations

import time

import httpx
import pytest

from .live_asgi import LiveASGI, login

pytestmark = pytest.mark.django_db(transaction=True)

SETTINGS_PAGE = "/settings/providers/"


@pytest.fixture
def live():
    with LiveASGI() as server:
        yield server


def test_headers_and_the_slash_redirect(live, alice):
    with httpx.Client(base_url=live.url, timeout=10) as client:
        login(client, alice)
        page = client.get(SETTINGS_PAGE)
        assert page.status_code == 200
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY"
        moved = client.get(SETTINGS_PAGE.rstrip("/"))
        assert moved.status_code == 301 and moved.headers["location"] == SETTINGS_PAGE


def test_anonymous_requests_still_go_to_login(live):
    with httpx.Client(base_url=live.url, timeout=10) as client:
        response = client.get(SETTINGS_PAGE)
        assert response.status_code == 302 and response.headers["location"].startswith("/accounts/login/")


def test_a_message_survives_the_redirect_and_csrf_is_still_enforced(live, alice, alice_openai):
    with httpx.Client(base_url=live.url, timeout=10) as client:
        csrf = login(client, alice)
        url = "/settings/providers/openai/enabled"
        refused = client.post(url, data={"enabled": "0"}, headers={"Referer": live.url + SETTINGS_PAGE})
        assert refused.status_code == 403  # no token: CSRF, nothing changed
        alice_openai.refresh_from_db()
        assert alice_openai.enabled

        done = client.post(
            url, data={"enabled": "0"}, headers={"X-CSRFToken": csrf, "Referer": live.url + SETTINGS_PAGE}
        )
        assert done.status_code == 302
        page = client.get(done.headers["location"])
        assert "OpenAI: disabled: agents will not use it." in page.text  # stored, then shown once
        assert "OpenAI: disabled" not in client.get(SETTINGS_PAGE).text


def test_no_middleware_hook_hops_to_a_thread_unless_it_must(live, alice, monkeypatch):
    """Every `sync_to_async` made while serving is noted: the hooks of a page that shows no
    messages run on the loop; saving a modified session (logout) still hops."""
    from asgiref.sync import SyncToAsync

    hops: list[str] = []
    init = SyncToAsync.__init__

    def noting(self, func, *args, **kwargs):
        hops.append(getattr(func, "__qualname__", repr(func)))
        init(self, func, *args, **kwargs)

    monkeypatch.setattr(SyncToAsync, "__init__", noting)
    with httpx.Client(base_url=live.url, timeout=10) as client:
        csrf = login(client, alice)
        assert client.get("/forge/history").status_code == 200
        page_hops = list(hops)
        hops.clear()
        logout = client.post("/accounts/logout/", headers={"X-CSRFToken": csrf, "Referer": live.url + SETTINGS_PAGE})
        assert logout.status_code == 302
    assert not [h for h in page_hops if h.split(".")[-1].startswith("process_")], page_hops
    assert "SessionMiddleware.process_response" in hops  # logout changed the session: saved in a thread


def test_a_streamed_run_makes_five_thread_hops(live, alice, platform_gateway, monkeypatch):
    """Were 20: fifteen for Django's middleware hooks (one each) and five for the request and
    the run. Now only those five: the request's start and end signals, the login check, and the
    run's start and end."""
    from asgiref.sync import SyncToAsync

    hops: list[str] = []
    init = SyncToAsync.__init__

    def noting(self, func, *args, **kwargs):
        hops.append(getattr(func, "__qualname__", repr(func)))
        init(self, func, *args, **kwargs)

    with httpx.Client(base_url=live.url, timeout=10) as client:
        headers = {"X-CSRFToken": login(client, alice), "Referer": live.url + "/forge/"}
        form = {"agent": "idea_generator", "prompt": "warm up"}
        assert '"kind": "done"' in client.post("/forge/stream", data=form, headers=headers).text
        time.sleep(0.3)  # the warm-up response's close (after its last byte) is not counted
        monkeypatch.setattr(SyncToAsync, "__init__", noting)
        form["prompt"] = "count the hops"
        assert '"kind": "done"' in client.post("/forge/stream", data=form, headers=headers).text
        time.sleep(0.3)
    assert sorted(hops) == sorted(
        [
            "Signal.asend.<locals>.sync_send",  # request_started
            "_authenticated_user",
            "_Loop.begin_and_prepare_first",
            "_Loop.finish",
            "HttpResponseBase.close",  # request_finished
        ]
    )


def test_settings_keep_naming_djangos_middleware(settings):
    """Django's deploy checks look for its security, session, CSRF and clickjacking middleware by
    dotted path: loading the ASGI app must not leave the subclasses in the setting."""
    from ideaforge import asgi  # noqa: F401  (loads the middleware)

    assert "django.middleware.security.SecurityMiddleware" in settings.MIDDLEWARE
    assert "django.middleware.csrf.CsrfViewMiddleware" in settings.MIDDLEWARE
    assert not [path for path in settings.MIDDLEWARE if path.startswith("ideaforge.middleware")]
