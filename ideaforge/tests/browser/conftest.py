"""Browser tests: Playwright drives the distribution's Chromium against pytest-django's live server.

- Chromium: `CHROMIUM_PATH`, default `/usr/bin/chromium` (`apt-get install chromium`; Playwright
  downloads no browser here). Only `executable_path` selects it: `--browser-channel` and
  `PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH` do not. Missing: the tests skip, or fail under CI=true.
- Playwright's sync API leaves an event loop running in the test thread, so Django's ORM would
  refuse to run there (SynchronousOnlyOperation) for the live server's database set-up and the
  tests' own queries. DJANGO_ALLOW_ASYNC_UNSAFE switches that check off; it is set here, for the
  browser tests only, which the root conftest.py runs after every other test.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


@pytest.fixture(scope="session", autouse=True)
def _allow_orm_beside_playwright():
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not os.access(CHROMIUM, os.X_OK):
        message = f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return {**browser_type_launch_args, "executable_path": CHROMIUM}


@pytest.fixture
def problems(page) -> list[str]:
    """Console errors, uncaught page errors and CSP violations of `page`, as they happen.

    Chromium reports an enforced CSP violation as a console error; the `securitypolicyviolation`
    events are collected too (an init script runs whatever the page's policy says)."""
    found: list[str] = []
    page.on(
        "console",
        lambda message: found.append(f"console {message.type}: {message.text}") if message.type == "error" else None,
    )
    page.on("pageerror", lambda error: found.append(f"page error: {error}"))
    page.add_init_script(
        "window.__csp = []; document.addEventListener('securitypolicyviolation',"
        " e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    return found


@pytest.fixture
def csp_violations(page):
    def read() -> list[str]:
        return page.evaluate("window.__csp || []")

    return read
