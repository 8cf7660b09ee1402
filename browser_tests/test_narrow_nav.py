"""The logged-in top bar on a phone (375 px, and 320 px for the smallest phones still sold):
nothing in it overflows or scrolls sideways, and every nav link can be reached and clicked."""

from __future__ import annotations

import pytest

from .conftest import PASSWORD, log_in

pytestmark = pytest.mark.django_db(transaction=True)

# Everything inside the bar that sticks out of the viewport or of the bar itself, and any part
# of the bar that scrolls (scrollWidth beyond clientWidth).
OVERFLOW = """(width) => {
  const bar = document.querySelector('.topbar');
  const box = bar.getBoundingClientRect();
  const out = [];
  for (const el of [bar, ...bar.querySelectorAll('*')]) {
    const r = el.getBoundingClientRect();
    if (r.width <= 1 && r.height <= 1) continue;  // visually hidden text (a 1 px clip)
    if (r.left < -0.5 || r.right > width + 0.5 || r.right > box.right + 0.5 || r.bottom > box.bottom + 0.5)
      out.push(`${el.tagName.toLowerCase()}.${el.className} ${r.left.toFixed(0)}..${r.right.toFixed(0)}`);
    if (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== 'visible')
      out.push(`${el.tagName.toLowerCase()}.${el.className} scrolls (${el.scrollWidth} > ${el.clientWidth})`);
  }
  return out;
}"""

LINKS = {"Forge": "/forge/", "AI providers": "/settings/providers/", "Usage": "/usage/", "Admin": "/admin/"}


@pytest.fixture
def staff(django_user_model):
    # Staff: the Admin link makes the bar as full as it gets.
    return django_user_model.objects.create_user("carol", password=PASSWORD, is_staff=True, is_superuser=True)


@pytest.mark.parametrize("width", [375, 320])
def test_logged_in_nav_fits_and_every_link_works(browser, live_server, staff, screenshots, width):
    context = browser.new_context(viewport={"width": width, "height": 812}, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        log_in(page, live_server.url)
        for path in ("/forge/", "/settings/providers/", "/usage/"):
            page.goto(live_server.url + path)
            assert page.evaluate(OVERFLOW, width) == [], path
            assert page.evaluate("document.documentElement.scrollWidth") <= width, path
        page.screenshot(path=str(screenshots / f"nav-{width}.png"))
        nav = page.get_by_role("navigation", name="Main")
        for name, path in LINKS.items():
            page.goto(live_server.url + "/forge/")
            link = nav.get_by_role("link", name=name, exact=True)
            box = link.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, (name, box)
            link.tap()  # a touch on the link itself (Playwright checks it is visible and not covered)
            page.wait_for_url(f"**{path}")
        page.goto(live_server.url + "/forge/")
        nav.get_by_role("button", name="Log out carol").tap()
        page.wait_for_url("**/accounts/login/**")
    finally:
        context.close()
