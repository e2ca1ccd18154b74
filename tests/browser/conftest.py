"""Browser tests: Playwright (Python) driving Debian's Chromium against the running platform.

The platform runs for real (tests/browser/harness.py): uvicorn and a Celery worker on a
database of their own, with committed data, the local embedder and the local extractive
responder. These tests never request pytest-django's ``db`` fixture; they reach the data
through the UI, the API, or ``manage.py`` against the platform's database.

Every page a test opens is watched: a console error, an uncaught exception, a failed
asset or a 5xx answer fails the test. Chromium logs every 4xx answer as a console error,
even one the app handles and shows; a test that provokes one on purpose declares it
(``page.watch.expect_refusal(409)``). Screenshots go to tests/browser/artifacts/.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from tests.browser.harness import ARTIFACTS, CHROMIUM, DIST, WORKER, Platform

HERE = Path(__file__).resolve().parent
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
PASSWORD = "correct-horse-battery-staple-42"
# Where answers the app handles itself (and shows next to the control) come from.
APP_HANDLED = re.compile(r"^/(api/|_allauth/)")


def pytest_collection_modifyitems(config, items):
    """Mark the browser tests and run them last, after the in-process suite: Playwright's
    sync API keeps an event loop in the main thread, which Django's ORM refuses to run
    under (SynchronousOnlyOperation) until Playwright stops. Under pytest-xdist
    (`make test`) they are one group, run by one worker (XDIST_GROUPS in the root
    conftest.py), and their platform and Chromium are package fixtures: stopped as soon
    as the worker leaves tests/browser, so the group may run first and the worker go on."""
    browser, others = [], []
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.browser)
            browser.append(item)
        else:
            others.append(item)
    items[:] = others + browser


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


# -- the platform -----------------------------------------------------------------


@pytest.fixture(scope="package")
def platform() -> Platform:
    if not (DIST / "index.html").exists():
        pytest.fail(
            "frontend/dist/index.html is missing: build the dashboard with `make frontend` "
            "(`make test` does it) before running the browser tests.",
            pytrace=False,
        )
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's Chromium with `make browser` "
            "(`make test` does it).",
            pytrace=False,
        )
    if not WORKER:  # the last run's screenshots and logs; xdist workers share the folder
        shutil.rmtree(ARTIFACTS, ignore_errors=True)
    from django.conf import settings

    # The suite's PostgreSQL server and its Redis database (TEST_CELERY_BROKER_URL):
    # own database, own key prefix, so concurrent runs and the dev server never meet.
    running = Platform(db=settings.DATABASES["default"], redis_url=settings.CELERY_BROKER_URL)
    # Billing talks to a local Stripe (billing/tests/stripe_api) through the platform's env.
    from billing.tests.stripe_api.server import FakeStripe

    stripe = FakeStripe().start()
    running.stripe = stripe
    os.environ.update(
        STRIPE_SECRET_KEY=stripe.api_key,
        STRIPE_WEBHOOK_SECRET=stripe.webhook_secret,
        STRIPE_API_BASE=stripe.url,
    )
    # Gmail talks to a local Google (integrations/tests/fakes/gmail.py) likewise.
    from integrations.tests.fakes.gmail import CLIENT_ID, CLIENT_SECRET, FakeGoogle

    google = running.google = FakeGoogle().start()
    os.environ.update(
        GOOGLE_OAUTH_CLIENT_ID=CLIENT_ID,
        GOOGLE_OAUTH_CLIENT_SECRET=CLIENT_SECRET,
        GOOGLE_OAUTH_AUTHORIZE_URL=f"{google.base}/o/oauth2/auth",
        GOOGLE_OAUTH_TOKEN_URL=f"{google.base}/token",
        GMAIL_API_BASE=f"{google.base}/",
        OAUTHLIB_INSECURE_TRANSPORT="1",  # the local Google is plain http
    )
    # Workflows' notify steps and the Slack bot talk to a local Slack (fakes/slack.py).
    from integrations.tests.fakes.slack import FakeSlack

    slack = running.slack = FakeSlack().start()
    os.environ.update(SLACK_API_BASE=slack.base_url)
    try:
        running.start()
        stripe.webhook_url = f"{running.public_url}/billing/stripe/webhook"
        yield running
    finally:
        running.stop()
        stripe.stop()
        google.stop()
        slack.stop()


@dataclass
class Account:
    email: str
    password: str
    role: str


@dataclass
class Organization:
    slug: str
    url: str
    accounts: dict[str, Account] = field(default_factory=dict)

    def __getitem__(self, role: str) -> Account:
        return self.accounts[role]


def create_organization(platform: Platform, slug: str, name: str) -> Organization:
    """An organization with a verified admin, member and viewer, the starter assistants
    (the Help Center on the local extractive responder) and the demo handbook, processed
    (``create_demo``'s knowledge), made with the services."""
    platform.shell(
        f"""
from django_tenants.utils import schema_context
from assistants.services import assistants_create_defaults
from knowledge_base.demo import knowledge_demo_seed
from users import services
from users.models import Membership
organization = services.organization_create(name={name!r}, slug={slug!r})
for role in ("admin", "member", "viewer"):
    user = services.user_create(
        email=f"{{role}}@{slug}.example", password={PASSWORD!r}, name=role.title(), verified=True
    )
    Membership.objects.create(user=user, organization=organization, role=role)
with schema_context({slug!r}):
    assistants_create_defaults()
    knowledge_demo_seed()
"""
    )
    accounts = {
        role: Account(f"{role}@{slug}.example", PASSWORD, role)
        for role in ("admin", "member", "viewer")
    }
    return Organization(slug, platform.org_url(slug), accounts)


@pytest.fixture(scope="package")
def globex(platform) -> Organization:
    """A ready organization for the tests that do not go through sign-up."""
    return create_organization(platform, "globex", "Globex Corporation")


# -- Chromium ---------------------------------------------------------------------


@pytest.fixture(scope="package")
def chromium():
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()


class PageWatch:
    """Collects what must not happen on a page: console errors, uncaught exceptions,
    failed assets and server errors."""

    def __init__(self, page, name: str):
        self.name = name
        self.problems: list[str] = []
        self.allowed: list[re.Pattern] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"uncaught: {error}"))
        page.on("response", self._response)

    def allow(self, pattern: str) -> None:
        """Tolerate console errors matching ``pattern``."""
        self.allowed.append(re.compile(pattern))

    def expect_refusal(self, status: int) -> None:
        """The test provokes an API answer with ``status``: its console line is expected."""
        self.allow(rf"^Failed to load resource: the server responded with a status of {status}\b")

    def _console(self, message) -> None:
        if message.type != "error":
            return
        text = message.text
        url = (message.location or {}).get("url", "")
        allowed = any(pattern.search(text) for pattern in self.allowed)
        # Allowed refusals are the API's; a failed asset or page never is.
        if allowed and (
            not text.startswith("Failed to load resource") or APP_HANDLED.match(urlsplit(url).path)
        ):
            return
        self.problems.append(f"console error: {text} ({url})")

    def _response(self, response) -> None:
        path = urlsplit(response.url).path
        if response.status >= 500:
            self.problems.append(f"{response.status} from {response.request.method} {path}")
        elif response.status >= 400 and not APP_HANDLED.match(path):
            self.problems.append(f"{response.status} for {path}")


@pytest.fixture
def new_page(chromium, request):
    """``new_page(viewport=..., **context_options)``: a page in a fresh browser context
    (own cookies); watched, and screenshotted into artifacts/failures/ if the test fails."""
    opened = []

    def make(viewport: dict | None = None, **options):
        context = chromium.new_context(viewport=viewport or DESKTOP, **options)
        context.set_default_timeout(15_000)
        page = context.new_page()
        watch = PageWatch(page, f"{request.node.name}-{len(opened)}")
        page.watch = watch
        opened.append((context, page, watch))
        return page

    yield make

    failed = getattr(request.node, "report_call", None)
    failed = failed is not None and failed.failed
    problems = []
    for context, page, watch in opened:
        if failed:
            target = ARTIFACTS / "failures"
            target.mkdir(parents=True, exist_ok=True)
            try:
                page.screenshot(path=str(target / f"{watch.name}.png"), full_page=True)
            except Exception as exc:  # a crashed page has nothing to show
                problems.append(f"no failure screenshot: {exc}")
        problems += [f"[{watch.name}] {problem}" for problem in watch.problems]
        context.close()
    if problems and failed:
        print("The browser also reported:", *problems, sep="\n")  # in the failure's output
    elif problems:
        pytest.fail("The browser reported problems:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture
def page(new_page):
    return new_page()


# -- helpers the tests share --------------------------------------------------------


# How far the page overflows the viewport horizontally, and the elements that make it:
# past the right edge and not clipped by a scrolling ancestor (an absolutely positioned
# element escapes a scroller that is not its containing block).
OVERFLOW = """() => {
  const root = document.documentElement;
  const width = root.clientWidth;
  const by = Math.max(0, root.scrollWidth - width);
  const culprits = [];
  if (by) {
    for (const element of document.body.querySelectorAll("*")) {
      const box = element.getBoundingClientRect();
      if (box.right <= width + 1 || culprits.length >= 5) continue;
      const position = getComputedStyle(element).position;
      let clipped = false;
      for (let up = element.parentElement; up && up !== document.body; up = up.parentElement) {
        const style = getComputedStyle(up);
        if (style.overflowX !== "visible" && up.getBoundingClientRect().right <= width + 1) {
          clipped = position !== "absolute" && position !== "fixed";
          break;
        }
        if (style.position !== "static" && position === "absolute") break;
      }
      if (!clipped) {
        const text = (element.textContent || "").trim().slice(0, 30);
        culprits.push(`<${element.tagName.toLowerCase()} class="${element.className}">`
          + `${text} (right edge ${Math.round(box.right)}px, ${position})`);
      }
    }
  }
  return { by, elements: culprits };
}"""


def settle(page) -> None:
    """Wait for running CSS transitions and animations (e.g. after a resize) to end."""
    page.evaluate(
        "() => Promise.all(document.getAnimations().map((a) => a.finished.catch(() => null)))"
    )


def snap(page, name: str) -> None:
    """Screenshots of the current page at desktop and phone width (artifacts/), checking
    on the way that the phone layout has no horizontal overflow."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # The page's data, not its spinners (pages that poll never go idle: cap the wait).
    with contextlib.suppress(PlaywrightTimeoutError):
        page.wait_for_load_state("networkidle", timeout=5_000)
    original = page.viewport_size
    try:
        for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
            if page.viewport_size != size:
                page.set_viewport_size(size)
                page.wait_for_function(f"window.innerWidth === {size['width']}")
            settle(page)
            page.screenshot(path=str(ARTIFACTS / f"{name}-{label}.png"), full_page=True)
        overflow = page.evaluate(OVERFLOW)
        assert not overflow["by"], (
            f"{name}: the page is {overflow['by']}px wider than a phone screen; "
            f"elements past the right edge: {overflow['elements']}"
        )
    finally:
        if original and page.viewport_size != original:
            page.set_viewport_size(original)


def login(page, organization: Organization, role: str = "admin") -> None:
    """Log in through the app's login form on the organization's host."""
    account = organization[role]
    page.goto(f"{organization.url}/login")
    page.get_by_label("E-mail").fill(account.email)
    page.get_by_label("Password").fill(account.password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("user-email")).to_have_text(account.email)
    # The home page's own requests finish here, so what they log is this test's to see.
    page.wait_for_load_state("networkidle")
