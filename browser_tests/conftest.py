"""Browser tests: Playwright driving the distribution's Chromium against `live_server`.

Chromium comes from the distribution (`apt-get install chromium`), never a Playwright download:
only `executable_path` works for that. Outside CI a missing Chromium skips these tests; under
`CI=true` it fails them. Screenshots go to `var/screenshots/` (printed at the end of the run).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"  # Debian's package (a wrapper script around the real binary)
SCREENSHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots"
PASSWORD = "browser-password-123"


def _chromium_path() -> str | None:
    found = shutil.which(CHROMIUM) or (CHROMIUM if os.path.exists(CHROMIUM) else None)
    return found


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).resolve().parent
    browser = [item for item in items if here in Path(str(item.fspath)).resolve().parents]
    for item in browser:
        item.add_marker(pytest.mark.browser)
    # Last, after pytest-django's own ordering: Playwright's sync API leaves an event loop
    # running in the main thread until the session ends, and tests that call asyncio.run()
    # cannot run after it.
    chosen = set(map(id, browser))
    items[:] = [item for item in items if id(item) not in chosen] + browser
    if _chromium_path() is None and os.environ.get("CI") != "true":
        skip = pytest.mark.skip(reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)")
        for item in browser:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _allow_orm_beside_playwright() -> Iterator[None]:
    """Playwright's sync API leaves an event loop running in the test thread, which trips
    Django's async-safety check in live_server setup: off for the browser tests only (they run
    last), never in settings."""
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    path = _chromium_path()
    if path is None:
        pytest.fail(f"CI=true and no Chromium at {CHROMIUM}: apt-get install chromium")
    return {**browser_type_launch_args, "executable_path": path}


@pytest.fixture(scope="session")
def screenshots() -> Iterator[Path]:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    yield SCREENSHOTS
    print(f"\nscreenshots: {SCREENSHOTS}")


_KEY = __import__("cryptography.fernet", fromlist=["Fernet"]).Fernet.generate_key().decode()


@pytest.fixture(autouse=True)
def _browser_settings(settings) -> None:
    # pytest-django forces DEBUG off, so the development key is not used: a throw-away one.
    settings.CREDENTIALS_ENCRYPTION_KEYS = [_KEY]
    # Lockouts are not what these tests are about.
    settings.AXES_ENABLED = False


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user("carol", password=PASSWORD)


@pytest.fixture
def console_errors(page) -> list[str]:
    """Console errors and uncaught exceptions of `page` (a CSP violation shows up here)."""
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


def log_in(page, base_url: str, username: str = "carol", password: str = PASSWORD) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    # Wait for the POST's own navigation: the login page is already loaded, so waiting for a
    # load state returned at once, and the caller's next goto() could cut the login short
    # ("navigation interrupted by another navigation").
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()


@pytest.fixture
def logged_in(page, live_server, user):
    log_in(page, live_server.url)
    return page


def shoot(page, folder: Path, name: str) -> None:
    """Full-page screenshots at 1280 and 375 px wide."""
    for width in (1280, 375):
        page.set_viewport_size({"width": width, "height": 900 if width > 400 else 812})
        page.screenshot(path=str(folder / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


@pytest.fixture
def demo_gateway(settings):
    """The operator's AI Gateway on a local simulator in demo mode (canned answers, word by word)."""
    from providers.testing.gateway_simulator import GatewaySimulator

    with GatewaySimulator() as sim:
        sim.canned = True
        sim.chunk_delay = 0.02
        settings.AI_GATEWAY_ENABLED = True
        settings.AI_GATEWAY_CLIENT_ID = sim.client_id
        settings.AI_GATEWAY_CLIENT_SECRET = sim.client_secret
        settings.AI_GATEWAY_BASE_URL = sim.base_url
        settings.AI_GATEWAY_TOKEN_URL = sim.token_url
        settings.AI_GATEWAY_FAST_MODEL = "sim-fast"
        settings.AI_GATEWAY_STANDARD_MODEL = "sim-standard"
        settings.AI_GATEWAY_PREMIUM_MODEL = "sim-premium"
        yield sim
