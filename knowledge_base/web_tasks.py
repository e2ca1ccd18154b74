"""Tasks of documents from URLs (knowledge_base/web_sources.py): thin, queued by name
(knowledge_base/web_queue.py). Apart from ``tasks.py`` because web_sources builds on
the services, which import ``tasks.py``; registered by the app's ``ready()``."""

from celery import shared_task

from core.tasks import TenantTask
from knowledge_base.web_queue import PAGE_FETCH_TASK, SITEMAP_FETCH_TASK
from knowledge_base.web_sources import (
    sitemap_fetch,
    web_page_fetch,
    web_sources_refresh_due_everywhere,
)


@shared_task(name=PAGE_FETCH_TASK, base=TenantTask, acks_late=True)
def web_page_fetch_task(document_id: str, lease: str, turn_reserved: bool = False) -> str:
    """Fetch a web page; a changed text is queued for ingestion. Safe to run twice: a
    delivery claims the fetch by the lease value it was queued with. ``turn_reserved``:
    queued for the host's turn a former delivery reserved (its crawl delay)."""
    return web_page_fetch(document_id=document_id, lease=lease, turn_reserved=turn_reserved)


@shared_task(name=SITEMAP_FETCH_TASK, base=TenantTask, acks_late=True)
def sitemap_fetch_task(sitemap_id: str, lease: str) -> str:
    """Fetch a sitemap: new pages added (their fetch queued), pages gone deleted."""
    return sitemap_fetch(sitemap_id=sitemap_id, lease=lease)


@shared_task(name="knowledge_base.web_sources_refresh_due", acks_late=True)
def web_sources_refresh_due_task() -> dict:
    """Beat, every minute: queue the pages and sitemaps whose refresh is due, and those
    whose fetch's worker died (their lease passed). Runs in public, sweeps every schema."""
    return web_sources_refresh_due_everywhere()
