"""The dashboard in Chromium: each page's time to usable against the API calls behind it.

On a fresh database of its own (the browser tests' harness, tests/browser/harness.py:
``browser_<pid>`` created, migrated, uvicorn and a Celery worker started on it, all
removed at the end), one organization made like the browser tests' (starter assistants,
the demo handbook processed), an admin logs in through the login form. Then, inside the
loaded app (client-side routing: a click on the navigation link, the collection's link
on the knowledge page), each main page is opened and measured in the page itself:

- time to usable: from the click to the page's main content in the DOM (its heading,
  the page's own content or its empty state, no loading indicator left in <main>), the
  next animation frame included;
- its API calls: the browser's resource timing entries for /api/ (and allauth's
  /_allauth/) that started after the click and ended by the time the page was usable;
  the slowest one's duration (0 when the page needed none: served from the cache);
- ratio = time to usable / (slowest call + 50 ms for rendering): above 1.0 the page
  waited for something else than its slowest call (a waterfall: one request after
  another, or a request held back until another answered). Target <= 1.0 on every page.

Each round runs in a new browser context (an empty query cache), ``--rounds`` times;
the table shows the median of each figure. Then the app's first load on a cold cache:
a new context holding only the session cookie opens ``/``; time from navigation start
to the home page usable, and the bytes the browser fetched (target < 1.5 s).

    .venv/bin/python bench/frontend.py [--rounds 3] [--cold 3] [--label before]

Needs the built dashboard (``make frontend``) and Debian's Chromium (``make browser``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common

RENDER_ALLOWANCE_MS = 50.0
TARGET_RATIO = 1.0
TARGET_COLD_MS = 1500.0

# (name, how to get there, the page's h1 (a prefix), its main content or empty state:
# CSS selectors joined by "&&" must all match). "nav:<label>" clicks the navigation
# link; "css:<selector>" clicks that element.
EMPTY = "main .empty:not([role=status])"
PAGES: list[tuple[str, str, str, str]] = [
    ("chat", "nav:Chat", "", "[data-testid=chat-session-list] li && #assistant-picker option && [data-testid=chat-input]"),
    ("assistants", "nav:Assistants", "Assistants", f"[data-testid=assistant-card], {EMPTY}"),
    ("knowledge", "nav:Knowledge", "Knowledge", f"[data-testid=collection-row], {EMPTY}"),
    ("collection", "css:[data-testid=collection-row] a", "", f"[data-testid=document-row], {EMPTY}"),
    ("search", "nav:Search playground", "Search playground", "main fieldset:first-of-type .checks input, main fieldset p.muted"),
    ("history", "nav:History", "History", "main form, main input"),
    ("members", "nav:Members", "Members", "[data-testid=member-row]"),
    ("api keys", "nav:API keys", "API keys", f"[data-testid=api-key-row], {EMPTY}"),
    ("audit", "nav:Audit log", "Audit log", f"[data-testid=audit-row], {EMPTY}"),
    ("billing", "nav:Billing", "Billing", "[data-testid=billing-plan]"),
    ("prompts", "nav:Prompt templates", "Prompt templates", f"[data-testid=prompt-row], {EMPTY}"),
    ("workflows", "nav:Workflows", "Workflows", f"[data-testid=workflow-row], {EMPTY}"),
    ("integrations", "nav:Integrations", "Integrations", f"[data-testid=integration-card], {EMPTY}"),
    ("webhooks", "nav:Webhooks", "Webhooks", f"[data-testid=webhook-row], {EMPTY}"),
    ("widgets", "nav:Website widget", "Website widget", f"[data-testid=widget-row], {EMPTY}"),
    ("credentials", "nav:Provider credentials", "Provider credentials", f"[data-testid=credential-row], {EMPTY}"),
    ("security", "nav:Security", "Security", "main button, main form"),
    ("home", "nav:Home", "Welcome", f"[data-testid=usage-chart], [data-testid=usage-row], {EMPTY}"),
]  # fmt: skip

# Runs in the page: click, then wait (DOM mutations, each checked) for the page to be
# usable; returns the time from the click and the /api/ calls that ended by then.
MEASURE = r"""
async ({how, heading, ready, previous}) => {
  performance.setResourceTimingBufferSize(100000);
  const t0 = performance.now();
  if (how.startsWith("nav:")) {
    const label = how.slice(4);
    const link = [...document.querySelectorAll('nav[aria-label="Main"] a')]
      .find((a) => a.textContent.trim() === label);
    if (!link) return {error: `no navigation link ${label}`};
    link.click();
  } else {
    const target = document.querySelector(how.slice(4));
    if (!target) return {error: `nothing matches ${how}`};
    target.click();
  }
  const usable = () => {
    if (location.pathname === previous) return false;
    const main = document.querySelector("main");
    if (!main || main.querySelector(".empty[role=status]")) return false;
    const h1 = main.querySelector("h1");
    if (heading && !(h1 && h1.textContent.trim().startsWith(heading))) return false;
    return ready.split("&&").every((selector) => main.querySelector(selector.trim()));
  };
  const ms = await new Promise((resolve) => {
    let done = false;
    const finish = (value) => { if (!done) { done = true; observer.disconnect(); resolve(value); } };
    const check = () => {
      if (done || !usable()) return;
      const at = performance.now();
      requestAnimationFrame(() => finish(Math.max(at, performance.now()) - t0));
    };
    const observer = new MutationObserver(check);
    observer.observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
    check();
    setTimeout(() => finish(-1), 20000);
  });
  const calls = performance.getEntriesByType("resource")
    .filter((e) => e.startTime >= t0 && /^\/(api|_allauth)\//.test(new URL(e.name).pathname))
    .map((e) => ({
      url: new URL(e.name).pathname + new URL(e.name).search,
      start_ms: e.startTime - t0,
      end_ms: e.responseEnd - t0,
      ms: e.responseEnd - e.startTime,
    }));
  return {ms, path: location.pathname, calls};
}
"""

COLD = r"""
async ({heading, ready}) => {
  const usable = () => {
    const main = document.querySelector("main");
    if (!main || main.querySelector(".empty[role=status]")) return false;
    const h1 = main.querySelector("h1");
    return Boolean(h1 && h1.textContent.trim().startsWith(heading) && main.querySelector(ready));
  };
  const ms = await new Promise((resolve) => {
    const check = () => { if (usable()) { observer.disconnect(); requestAnimationFrame(() => resolve(performance.now())); } };
    const observer = new MutationObserver(check);
    observer.observe(document.documentElement, {subtree: true, childList: true, attributes: true});
    check();
    setTimeout(() => resolve(-1), 20000);
  });
  const nav = performance.getEntriesByType("navigation")[0];
  const resources = performance.getEntriesByType("resource");
  const bytes = resources.reduce((sum, e) => sum + (e.transferSize || 0), nav ? nav.transferSize : 0);
  const api = resources.filter((e) => /^\/(api|_allauth)\//.test(new URL(e.name).pathname) && e.responseEnd <= ms)
    .map((e) => ({url: new URL(e.name).pathname, start_ms: e.startTime, end_ms: e.responseEnd, ms: e.responseEnd - e.startTime}));
  return {ms, document_ms: nav ? nav.responseEnd : null, dom_content_loaded_ms: nav ? nav.domContentLoadedEventEnd : null,
          bytes, requests: resources.length + 1, api};
}
"""


def page_ratio(ms: float, slowest: float) -> float:
    return ms / (slowest + RENDER_ALLOWANCE_MS)


def tour(browser, organization, login) -> dict[str, dict]:
    """One round: a new context, log in, every page in turn; figures per page."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        login(page, organization, "admin")
        results: dict[str, dict] = {}
        for name, how, heading, ready in PAGES:
            previous = page.evaluate("location.pathname")
            measured = page.evaluate(
                MEASURE, {"how": how, "heading": heading, "ready": ready, "previous": previous}
            )
            if "error" in measured or measured["ms"] < 0:
                raise RuntimeError(f"{name}: {measured.get('error') or 'never usable'}")
            ms = measured["ms"]
            # The calls the page needed: those that ended before it was usable.
            needed = [call for call in measured["calls"] if call["end_ms"] <= ms]
            slowest = max((call["ms"] for call in needed), default=0.0)
            results[name] = {
                "path": measured["path"],
                "time_to_usable_ms": round(ms, 1),
                "slowest_call_ms": round(slowest, 1),
                "ratio": round(page_ratio(ms, slowest), 3),
                "calls": [
                    {k: round(v, 1) if k != "url" else v for k, v in c.items()} for c in needed
                ],
                "later_calls": [c["url"] for c in measured["calls"] if c["end_ms"] > ms],
            }
            # Let the page's remaining requests finish before the next click.
            page.wait_for_timeout(250)
        storage = context.storage_state()
    finally:
        context.close()
    return {"pages": results, "storage": storage}


def cold_load(browser, organization, storage) -> dict:
    """The dashboard opened by a logged-in member with nothing cached."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, storage_state=storage)
    page = context.new_page()
    try:
        page.goto(f"{organization.url}/", wait_until="commit")
        _, _, heading, ready = PAGES[-1]
        measured = page.evaluate(COLD, {"heading": heading, "ready": ready})
        if measured["ms"] < 0:
            raise RuntimeError("the home page never became usable on a cold load")
        return measured
    finally:
        context.close()


def median(values) -> float:
    return round(statistics.median(values), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="tours of every page")
    parser.add_argument("--cold", type=int, default=3, help="cold first loads")
    parser.add_argument("--label", default="", help="a word for the results (before/after)")
    args = parser.parse_args()

    common.setup_django()
    from django.conf import settings
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import create_organization, login
    from tests.browser.harness import CHROMIUM, DIST, Platform

    if not (DIST / "index.html").exists():
        sys.exit("frontend/dist/index.html is missing: run `make frontend` first")
    # Its own mail folder: a browser test run at the same time keeps its e-mails.
    platform = Platform(
        db=settings.DATABASES["default"],
        redis_url=settings.CELERY_BROKER_URL,
        mail_dir=Path(tempfile.mkdtemp(prefix="bench-frontend-mail-")),
    )
    print("starting the platform on a fresh database (migrations, ~30-60 s)", flush=True)
    started = time.perf_counter()
    platform.start()
    try:
        organization = create_organization(platform, "benchfront", "Bench Frontend")
        print(f"platform ready in {time.perf_counter() - started:.0f} s", flush=True)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM)
            try:
                tour(browser, organization, login)  # warm-up: server imports, connections
                rounds = [tour(browser, organization, login) for _ in range(args.rounds)]
                colds = [
                    cold_load(browser, organization, rounds[-1]["storage"])
                    for _ in range(args.cold)
                ]
            finally:
                browser.close()
    finally:
        platform.stop()

    pages = {}
    for name, *_ in PAGES:
        runs = [r["pages"][name] for r in rounds]
        pages[name] = {
            "time_to_usable_ms": median(r["time_to_usable_ms"] for r in runs),
            "slowest_call_ms": median(r["slowest_call_ms"] for r in runs),
            "ratio": round(statistics.median(r["ratio"] for r in runs), 3),
            "ratio_max": max(r["ratio"] for r in runs),
            "calls": len(runs[-1]["calls"]),
            "runs": runs,
        }
    cold_ms = median(c["ms"] for c in colds)
    rows = [
        [
            name,
            f"{p['time_to_usable_ms']:.0f}",
            f"{p['slowest_call_ms']:.0f}",
            p["calls"],
            f"{p['ratio']:.2f}",
            f"{p['ratio_max']:.2f}",
            common.verdict(p["ratio"] <= TARGET_RATIO),
        ]
        for name, p in pages.items()
    ]
    label = f" ({args.label})" if args.label else ""
    print(
        f"\nin-app navigation{label}, median of {args.rounds} rounds; ratio = usable / (slowest + 50 ms)"
    )
    common.print_table(
        ["page", "usable ms", "slowest call ms", "calls", "ratio", "worst", "<= 1.0"], rows
    )
    worst = max(p["ratio"] for p in pages.values())
    print(
        f"\ncold first load: {cold_ms:.0f} ms to the home page usable (median of {args.cold}; "
        f"target < {TARGET_COLD_MS:.0f} ms) {common.verdict(cold_ms < TARGET_COLD_MS)}; "
        f"{colds[-1]['bytes'] / 1024:.0f} KiB in {colds[-1]['requests']} requests"
    )
    print(f"worst page ratio (median): {worst:.2f} {common.verdict(worst <= TARGET_RATIO)}")
    common.write_results(
        "frontend",
        {
            "label": args.label,
            "code": common._CODE_AT_START,
            "rounds": args.rounds,
            "render_allowance_ms": RENDER_ALLOWANCE_MS,
            "pages": pages,
            "worst_ratio": worst,
            "cold_first_load_ms": cold_ms,
            "cold_loads": colds,
            "load_average_1min": round(__import__("os").getloadavg()[0], 2),
        },
    )


if __name__ == "__main__":
    main()
