"""Pages outside the dashboard app render under the Content-Security-Policy: Swagger UI
and ReDoc (pinned local assets), the Django admin and allauth's login page. A CSP
violation is a console error, which the page watch turns into a failure."""

import re

from playwright.sync_api import expect


def _violations(page) -> list[str]:
    return page.evaluate("window.__cspViolations || []")


def _watch_violations(page) -> None:
    page.add_init_script(
        "window.__cspViolations = [];"
        "document.addEventListener('securitypolicyviolation',"
        " e => window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));"
    )


def test_swagger_ui_and_redoc_render_from_local_files(page, globex):
    _watch_violations(page)
    outside = []
    page.on(
        "request",
        lambda request: (
            outside.append(request.url)
            if not request.url.startswith((globex.url, "data:", "blob:"))
            else None
        ),
    )
    page.goto(f"{globex.url}/api/docs/")
    # The schema is generated on request: slow on a busy machine.
    expect(page.locator(".swagger-ui .title").first).to_contain_text(
        "Assistant Platform API", timeout=60_000
    )
    expect(page.locator(".opblock").first).to_be_visible()
    assert _violations(page) == []

    # ReDoc's own footer shows its vendor's logo from their CDN: the policy blocks that
    # image (nothing leaves the page), which is the one violation expected here.
    vendor_logo = r"cdn\.redoc\.ly/redoc/logo-mini\.svg"
    page.watch.allow(vendor_logo)
    page.goto(f"{globex.url}/api/redoc/")
    expect(page.get_by_role("heading", name="Assistant Platform API").first).to_be_visible(
        timeout=60_000
    )
    assert [v for v in _violations(page) if not re.search(vendor_logo, v)] == []
    assert [url for url in outside if not re.search(vendor_logo, url)] == []


def test_admin_and_account_pages_render_under_the_policy(page, globex):
    _watch_violations(page)
    page.goto(f"{globex.url}/admin/login/")
    expect(page.locator("#id_username")).to_be_visible()
    assert _violations(page) == []
    page.goto(f"{globex.url}/accounts/login/")
    expect(page.locator("form").first).to_be_visible()
    assert _violations(page) == []
