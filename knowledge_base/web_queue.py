"""Queueing the fetch of a web page or sitemap (knowledge_base/web_sources.py).

By task name: the tasks module imports the services that call this, so this module
imports neither. The message is sent when the transaction commits, with the lease value
the task must find (see web_sources' docstring) and the organization's schema named
explicitly (the due sweep queues from inside ``schema_context``, and on_commit may run
after that context ended).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from celery import current_app
from django.db import connection, transaction

# Longest a fetch may hold its page or sitemap before the sweep queues it again
# (a sitemap index's fetch reads up to KNOWLEDGE_SITEMAP_MAX_CHILDREN sitemaps).
FETCH_LEASE = timedelta(minutes=15)
PAGE_FETCH_TASK = "knowledge_base.web_page_fetch"
SITEMAP_FETCH_TASK = "knowledge_base.sitemap_fetch"


def _queue(task: str, pk, lease_until: datetime, *extra, countdown: float = 0) -> None:
    schema, args = connection.schema_name, [str(pk), lease_until.isoformat(), *extra]
    options = {"countdown": countdown} if countdown > 0 else {}
    transaction.on_commit(
        lambda: current_app.send_task(task, args=args, headers={"_schema_name": schema}, **options)
    )


def queue_page_fetch(document_id, lease_until: datetime) -> None:
    _queue(PAGE_FETCH_TASK, document_id, lease_until)


def queue_page_fetch_at(document_id, moment: datetime, countdown: float) -> None:
    """The fetch again at ``moment``, the host's turn this delivery reserved (its crawl
    delay): ``moment`` is also the lease value the delivery must find, and the delivery
    fetches without reserving another turn."""
    _queue(PAGE_FETCH_TASK, document_id, moment, True, countdown=countdown)


def queue_sitemap_fetch(sitemap_id, lease_until: datetime) -> None:
    _queue(SITEMAP_FETCH_TASK, sitemap_id, lease_until)
