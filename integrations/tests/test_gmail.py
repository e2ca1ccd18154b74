"""Gmail, per member, against the local wire-level Google (integrations/tests/fakes/
gmail.py): google-auth-oauthlib exchanges the code, google-auth refreshes the token and
google-api-python-client (bundled discovery document) calls the Gmail API, all over
real HTTP through the outbound policy."""

import logging
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.utils import timezone
from django_tenants.utils import schema_context

from assistants import services as assistant_services
from billing.models import UsageRecord
from chat.models import ChatSession
from core import crypto
from integrations.gmail.services import gmail_sync_due
from integrations.gmail.sync import gmail_sync
from integrations.models import GmailConnection, GmailStatus, GmailSyncStatus
from knowledge_base.models import Collection, Document
from tests.factories import catalog_model, process_pending

MAILBOX = "ana@example.test"
CUSTOMER = "Carl Customer <carl@customer.test>"


def _connect(org, user, google, client_for, public_client, *, compose=True, allow=True):
    """The member's whole connection: the dashboard's button, Google's consent page
    (the fake's: the member clicks Allow, or Cancel), the redirect back to the platform."""
    google.consent_as = MAILBOX if allow else None
    response = client_for(org.host, user).post(
        "/api/v1/gmail/connect", {"compose": compose}, format="json"
    )
    assert response.status_code == 200, response.content
    consent = requests.get(response.json()["url"], allow_redirects=False, timeout=10)
    assert consent.status_code == 302
    back = urlsplit(consent.headers["Location"])
    assert back.path == "/integrations/gmail/oauth/callback"
    return public_client.get(back.path, {k: v[0] for k, v in parse_qs(back.query).items()})


@pytest.fixture
def mailbox(google):
    box = google.mailbox(MAILBOX)
    box.support = google.label(box, "Support")
    return box


@pytest.fixture
def connected(org_a, mailbox, google, client_for, public_client):
    response = _connect(org_a, org_a.member, google, client_for, public_client)
    assert response.status_code == 302, response.content
    return GmailConnection.objects.get(organization=org_a.organization, user=org_a.member)


def _configure(org, connection, collection, label_id, client_for):
    return client_for(org, "member").patch(
        f"/api/v1/gmail/connections/{connection.pk}",
        {"label_id": label_id, "collection": str(collection.pk)},
        format="json",
    )


def _sync(org, connection) -> dict:
    """What the task does in the worker (integrations.gmail_sync), in the test's
    transaction; test_a_sync_runs_on_the_worker runs the real task."""
    with schema_context(org.slug):
        return gmail_sync(connection_id=connection.pk)


def _documents(org, collection) -> dict:
    with schema_context(org.slug):
        return {
            d.metadata.get("gmail_thread_id"): d
            for d in Document.objects.filter(collection=collection)
        }


# -- connecting -------------------------------------------------------------------------


class TestConnect:
    def test_a_member_connects_and_the_refresh_token_is_stored_encrypted(
        self, org_a, mailbox, google, client_for, public_client
    ):
        response = _connect(org_a, org_a.member, google, client_for, public_client)

        assert response.status_code == 302, response.content
        assert response["Location"] == f"{org_a.organization.url}/integrations?gmail=connected"
        connection = GmailConnection.objects.get(organization=org_a.organization)
        assert connection.user == org_a.member and connection.email == MAILBOX
        assert connection.can_compose and connection.status == GmailStatus.ACTIVE
        [refresh] = google.refresh_tokens
        assert refresh not in connection.refresh_token_encrypted
        assert crypto.decrypt(connection.refresh_token_encrypted) == refresh
        # the code exchange carried the PKCE verifier (the fake checks it)
        assert any(r["path"] == "/token" for r in google.requests)

    def test_the_connection_is_listed_for_its_member_only(self, org_a, connected, client_for):
        mine = client_for(org_a, "member").get("/api/v1/gmail/connections").json()
        admins = client_for(org_a, "admin").get("/api/v1/gmail/connections").json()

        assert [c["email"] for c in mine["results"]] == [MAILBOX]
        assert "refresh_token" not in str(mine) and "encrypted" not in str(mine)
        assert admins["results"] == []
        other = client_for(org_a, "admin").get(f"/api/v1/gmail/connections/{connected.pk}")
        assert other.status_code == 404

    def test_a_forged_state_is_refused(self, org_a, mailbox, google, client_for, public_client):
        google.consent_as = MAILBOX
        url = client_for(org_a, "member").post("/api/v1/gmail/connect", {}, format="json")
        consent = requests.get(url.json()["url"], allow_redirects=False, timeout=10)
        query = {k: v[0] for k, v in parse_qs(urlsplit(consent.headers["Location"]).query).items()}
        forged = query["state"][:-3] + ("abc" if not query["state"].endswith("abc") else "xyz")

        response = public_client.get(
            "/integrations/gmail/oauth/callback", {"code": query["code"], "state": forged}
        )

        assert response.status_code == 400
        assert b"invalid or expired" in response.content
        assert not GmailConnection.objects.exists()

    def test_a_state_is_used_once(self, org_a, mailbox, google, client_for, public_client):
        google.consent_as = MAILBOX
        url = client_for(org_a, "member").post("/api/v1/gmail/connect", {}, format="json")
        consent = requests.get(url.json()["url"], allow_redirects=False, timeout=10)
        back = urlsplit(consent.headers["Location"])
        query = {k: v[0] for k, v in parse_qs(back.query).items()}
        assert public_client.get(back.path, query).status_code == 302

        again = public_client.get(back.path, query)

        assert again.status_code == 400
        assert b"already used" in again.content

    def test_cancelling_on_googles_page_connects_nothing(
        self, org_a, mailbox, google, client_for, public_client
    ):
        response = _connect(org_a, org_a.member, google, client_for, public_client, allow=False)

        assert response["Location"].endswith("/integrations?gmail=cancelled")
        assert not GmailConnection.objects.exists()

    def test_without_the_platforms_google_client_connecting_explains_itself(
        self, org_a, client_for, settings
    ):
        settings.GOOGLE_OAUTH_CLIENT_ID = ""

        response = client_for(org_a, "member").post("/api/v1/gmail/connect", {}, format="json")

        assert response.status_code == 409
        assert response.json()["error"]["code"] == "gmail_not_configured"

    def test_viewers_and_api_keys_cannot_connect(self, org_a, google, client_for):
        from tests.factories import api_key_for

        viewer = client_for(org_a, "viewer").post("/api/v1/gmail/connect", {}, format="json")
        _, key = api_key_for(org_a, "admin")
        keyed = client_for(org_a.host, api_key=key).post("/api/v1/gmail/connect", {}, format="json")

        assert viewer.status_code == 403
        assert keyed.status_code == 403


# -- syncing a label --------------------------------------------------------------------


class TestSync:
    def test_a_label_syncs_into_the_collection_with_metadata_and_is_searchable(
        self, org_a, connected, mailbox, google, collection, client_for
    ):
        refunds = google.receive(
            mailbox,
            sender=CUSTOMER,
            subject="Refund for order 1042",
            body="Hello, how long do refunds take for order 1042?",
            labels=["INBOX", mailbox.support],
        )
        google.receive(
            mailbox,
            sender="Support <ana@example.test>",
            subject="Re: Refund for order 1042",
            body="Refunds reach your card within five business days.",
            labels=["SENT", mailbox.support],
            thread_id=refunds["threadId"],
        )
        invoice_thread = google.receive(
            mailbox,
            sender="Dora <dora@customer.test>",
            subject="Invoice address",
            body="<b>Please</b> change the invoice address to Rue Neuve 4.",
            labels=[mailbox.support],
            html=True,
        )
        google.receive(
            mailbox, sender="news@shop.test", subject="Newsletter", body="Sale!", labels=["INBOX"]
        )
        labels = client_for(org_a, "member").get(f"/api/v1/gmail/connections/{connected.pk}/labels")
        assert "Support" in [label["name"] for label in labels.json()["labels"]]
        assert (
            _configure(org_a, connected, collection, mailbox.support, client_for).status_code == 200
        )

        result = _sync(org_a, connected)
        process_pending(org_a)

        assert result["status"] == "done" and result["added"] == 2 and result["full"]
        documents = _documents(org_a, collection)
        assert set(documents) == {refunds["threadId"], invoice_thread["threadId"]}
        thread = documents[refunds["threadId"]]
        assert thread.title == "Refund for order 1042"
        assert thread.metadata["sender"] == CUSTOMER
        assert thread.metadata["subject"] == "Refund for order 1042"
        assert thread.metadata["date"].startswith("2026-11-01T09:01")
        assert "five business days" in thread.text and thread.status == "completed"
        invoice = documents[invoice_thread["threadId"]]
        assert "<b>" not in invoice.text and "Rue Neuve 4" in invoice.text
        hits = (
            client_for(org_a, "member")
            .post(
                "/api/v1/search",
                {"query": "how long do refunds take", "collections": [str(collection.pk)]},
                format="json",
            )
            .json()["results"]
        )
        assert hits[0]["document_title"] == "Refund for order 1042"
        connected.refresh_from_db()
        assert connected.sync_status == GmailSyncStatus.IDLE and connected.last_sync_at
        assert connected.sync_threads_done == connected.sync_threads_total == 2

    def test_the_next_sync_takes_only_the_changes_and_removes_deleted_threads(
        self, org_a, connected, mailbox, google, collection, client_for
    ):
        first = [
            google.receive(
                mailbox,
                sender=CUSTOMER,
                subject=f"Question {n}",
                body=f"Question number {n}.",
                labels=[mailbox.support],
            )
            for n in range(4)
        ]
        _configure(org_a, connected, collection, mailbox.support, client_for)
        assert _sync(org_a, connected)["added"] == 4
        process_pending(org_a)
        google.requests.clear()
        # given: one new thread, one reply in a synced thread, one thread deleted, one
        # thread taken out of the label, and a message elsewhere
        new = google.receive(
            mailbox,
            sender=CUSTOMER,
            subject="Question 4",
            body="A new one.",
            labels=[mailbox.support],
        )
        google.receive(
            mailbox,
            sender=CUSTOMER,
            subject="Re: Question 0",
            body="A follow-up on zero.",
            labels=[mailbox.support],
            thread_id=first[0]["threadId"],
        )
        google.delete_thread(mailbox, first[1]["threadId"])
        google.label_remove(mailbox, first[2]["threadId"], mailbox.support)
        google.receive(mailbox, sender="x@y.test", subject="Other", body="No.", labels=["INBOX"])

        result = _sync(org_a, connected)

        assert (result["added"], result["updated"], result["removed"]) == (1, 1, 2)
        assert not result["full"]
        paths = [r["path"].rsplit("/", 1)[-1] for r in google.requests if "gmail" in r["path"]]
        assert "history" in paths and "threads" not in paths  # no listing of the label
        fetched = {
            r["path"].rsplit("/", 1)[-1] for r in google.requests if "/threads/" in r["path"]
        }
        assert first[3]["threadId"] not in fetched  # untouched: not fetched again
        documents = _documents(org_a, collection)
        assert set(documents) == {first[0]["threadId"], first[3]["threadId"], new["threadId"]}
        assert "A follow-up on zero." in documents[first[0]["threadId"]].text
        assert documents[first[0]["threadId"]].metadata["messages"] == 2

    def test_a_second_run_with_no_change_changes_nothing(
        self, org_a, connected, mailbox, google, collection, client_for
    ):
        google.receive(
            mailbox, sender=CUSTOMER, subject="Once", body="Only once.", labels=[mailbox.support]
        )
        _configure(org_a, connected, collection, mailbox.support, client_for)
        _sync(org_a, connected)

        again = _sync(org_a, connected)

        assert (again["added"], again["updated"], again["removed"]) == (0, 0, 0)
        assert len(_documents(org_a, collection)) == 1

    def test_expired_history_falls_back_to_a_full_sync(
        self, org_a, connected, mailbox, google, collection, client_for
    ):
        kept = google.receive(
            mailbox, sender=CUSTOMER, subject="Kept", body="Kept.", labels=[mailbox.support]
        )
        gone = google.receive(
            mailbox, sender=CUSTOMER, subject="Gone", body="Gone.", labels=[mailbox.support]
        )
        _configure(org_a, connected, collection, mailbox.support, client_for)
        _sync(org_a, connected)
        google.delete_thread(mailbox, gone["threadId"])
        google.forget_history(mailbox)

        result = _sync(org_a, connected)

        assert result["full"] and result["removed"] == 1 and result["unchanged"] == 1
        assert set(_documents(org_a, collection)) == {kept["threadId"]}

    def test_a_run_holding_the_lease_makes_a_duplicate_delivery_a_no_op(
        self, org_a, connected, mailbox, google, collection, client_for
    ):
        from django.utils import timezone

        _configure(org_a, connected, collection, mailbox.support, client_for)
        GmailConnection.objects.filter(pk=connected.pk).update(
            sync_status=GmailSyncStatus.RUNNING,
            sync_lease_until=timezone.now() + timezone.timedelta(minutes=1),
        )
        google.requests.clear()

        assert _sync(org_a, connected) == {"status": "busy"}
        assert not [r for r in google.requests if "/gmail/" in r["path"]]

    def test_a_revoked_grant_marks_the_connection_and_says_connect_again(
        self, org_a, connected, mailbox, google, collection, client_for
    ):
        _configure(org_a, connected, collection, mailbox.support, client_for)
        google.revoke(MAILBOX)

        result = _sync(org_a, connected)

        assert result == {"status": "failed", "code": "gmail_reconnect"}
        connected.refresh_from_db()
        assert connected.status == GmailStatus.ERROR
        assert "Connect Gmail again" in connected.last_error
        refused = client_for(org_a, "member").post(f"/api/v1/gmail/connections/{connected.pk}/sync")
        assert refused.status_code == 409

    def test_tokens_never_reach_the_logs(
        self, org_a, mailbox, google, collection, client_for, public_client, caplog
    ):
        caplog.set_level(logging.DEBUG)
        google.receive(
            mailbox, sender=CUSTOMER, subject="Logged?", body="Body.", labels=[mailbox.support]
        )
        _connect(org_a, org_a.member, google, client_for, public_client)
        connection = GmailConnection.objects.get(organization=org_a.organization)
        _configure(org_a, connection, collection, mailbox.support, client_for)
        _sync(org_a, connection)
        google.revoke(MAILBOX)
        _sync(org_a, connection)  # a refused refresh is logged too

        logged = "\n".join(
            f"{r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in caplog.records
        )
        assert len(google.issued) >= 3  # a refresh token and access tokens were issued
        for token in google.issued:
            assert token not in logged

    def test_configuring_checks_the_label_and_the_collection(
        self, org_a, connected, mailbox, collection, client_for
    ):
        import uuid

        client = client_for(org_a, "member")
        url = f"/api/v1/gmail/connections/{connected.pk}"

        bad_label = client.patch(
            url, {"label_id": "Label_404", "collection": str(collection.pk)}, format="json"
        )
        bad_collection = client.patch(
            url, {"label_id": mailbox.support, "collection": str(uuid.uuid4())}, format="json"
        )

        assert bad_label.status_code == 400
        assert "label_id" in bad_label.json()["error"]["fields"]
        assert "collection" in bad_collection.json()["error"]["fields"]


# -- the scheduled sync (beat) ------------------------------------------------------------


def _later(minutes: float) -> "datetime":
    return timezone.now() + timedelta(minutes=minutes)


class TestSchedule:
    """``integrations.gmail_sync_due`` (beat) queues what is due; the run itself is the
    worker's (test_the_beat_syncs_a_label_change_on_the_worker, below)."""

    def test_beat_runs_the_scheduled_sync_by_a_registered_task_name(self):
        from django.conf import settings as django_settings

        from config.celery import app

        app.loader.import_default_modules()
        entries = django_settings.CELERY_BEAT_SCHEDULE.values()

        assert "integrations.gmail_sync_due" in {entry["task"] for entry in entries}
        assert [e["task"] for e in entries if e["task"] not in app.tasks] == []

    def test_a_configured_connection_is_queued_once_and_again_after_the_interval(
        self, org_a, connected, mailbox, google, collection, client_for, settings
    ):
        settings.GMAIL_SYNC_INTERVAL_MINUTES = 30
        google.receive(mailbox, sender=CUSTOMER, subject="Hi", body="Hi.", labels=[mailbox.support])
        assert gmail_sync_due() == []  # no label chosen yet: nothing to sync
        _configure(org_a, connected, collection, mailbox.support, client_for)

        first = gmail_sync_due()
        second = gmail_sync_due()

        assert first == [str(connected.pk)] and second == []
        connected.refresh_from_db()
        assert connected.sync_status == GmailSyncStatus.QUEUED
        # the worker's run (here in the test's transaction), then the schedule waits
        assert _sync(org_a, connected)["added"] == 1
        assert gmail_sync_due() == []
        assert gmail_sync_due(now=_later(29)) == []
        assert gmail_sync_due(now=_later(31)) == [str(connected.pk)]

    def test_failing_connections_back_off_and_revoked_ones_wait_for_a_reconnect(
        self, org_a, connected, mailbox, google, collection, client_for, public_client
    ):
        _configure(org_a, connected, collection, mailbox.support, client_for)
        with schema_context(org_a.slug):  # a failing run: the collection is gone
            Collection.objects.filter(pk=collection.pk).delete()

        assert _sync(org_a, connected)["status"] == "failed"
        connected.refresh_from_db()
        assert connected.sync_failures == 1
        assert gmail_sync_due(now=_later(14)) == []  # the interval (15 min) first
        assert gmail_sync_due(now=_later(16)) == [str(connected.pk)]
        _sync(org_a, connected)
        connected.refresh_from_db()
        assert connected.sync_failures == 2
        assert gmail_sync_due(now=_later(29)) == []  # then doubled with each failure
        assert gmail_sync_due(now=_later(31)) == [str(connected.pk)]

        GmailConnection.objects.filter(pk=connected.pk).update(
            status=GmailStatus.ERROR, sync_status=GmailSyncStatus.FAILED
        )
        assert gmail_sync_due(now=_later(60 * 48)) == []  # Google refused: never, until...
        _connect(org_a, org_a.member, google, client_for, public_client)
        connected.refresh_from_db()
        assert connected.status == GmailStatus.ACTIVE and connected.sync_failures == 0
        assert gmail_sync_due() == [str(connected.pk)]  # ...the member connects again

    def test_a_run_whose_message_or_worker_was_lost_is_queued_again(
        self, org_a, connected, mailbox, google, collection, client_for
    ):
        _configure(org_a, connected, collection, mailbox.support, client_for)
        assert gmail_sync_due() == [str(connected.pk)]  # queued; its message is then lost

        assert gmail_sync_due(now=_later(59)) == []  # queued: nothing new for an hour
        assert gmail_sync_due(now=_later(61)) == [str(connected.pk)]
        # a worker that died mid-run: once its lease has expired
        GmailConnection.objects.filter(pk=connected.pk).update(
            sync_status=GmailSyncStatus.RUNNING, sync_lease_until=_later(5)
        )
        assert gmail_sync_due(now=_later(61)) == [str(connected.pk)]
        GmailConnection.objects.filter(pk=connected.pk).update(
            sync_status=GmailSyncStatus.RUNNING, sync_lease_until=_later(90)
        )
        assert gmail_sync_due(now=_later(61)) == []

    def test_a_beat_run_queues_at_most_a_batch_the_longest_waiting_first(
        self, org_a, org_b, connected, mailbox, google, collection, client_for, settings
    ):
        _configure(org_a, connected, collection, mailbox.support, client_for)
        GmailConnection.objects.filter(pk=connected.pk).update(last_sync_at=_later(-60))
        waiting_longer = GmailConnection.objects.create(
            organization=org_b.organization,
            user=org_b.member,
            email="bo@example.test",
            refresh_token_encrypted=crypto.encrypt("1//0g-b"),
            label_id="Label_1",
            collection_id=collection.pk,
            last_sync_at=_later(-600),
        )
        settings.GMAIL_SYNC_BATCH = 1

        assert gmail_sync_due() == [str(waiting_longer.pk)]
        assert gmail_sync_due() == [str(connected.pk)]
        assert gmail_sync_due() == []


# -- drafting a reply -------------------------------------------------------------------


class TestDraft:
    def test_an_assistant_drafts_a_reply_from_the_knowledge_base_and_nothing_is_sent(
        self, org_a, connected, mailbox, google, collection, client_for
    ):
        from knowledge_base import services as knowledge_services

        with schema_context(org_a.slug):
            knowledge_services.document_create_text(
                collection=collection,
                title="Refund policy",
                text="# Refunds\n\nRefunds reach the customer's card within five business days.",
            )
            assistant = assistant_services.assistant_create(
                user=org_a.admin,
                name="Mail helper",
                model=catalog_model("local/extractive"),
                collections=[collection],
            )
        process_pending(org_a)
        asked = google.receive(
            mailbox,
            sender=CUSTOMER,
            subject="Refund timing",
            body="When will my refund reach my card?",
            labels=["INBOX"],
        )

        response = client_for(org_a, "member").post(
            f"/api/v1/gmail/connections/{connected.pk}/drafts",
            {"thread_id": asked["threadId"], "assistant": str(assistant.pk)},
            format="json",
        )

        assert response.status_code == 201, response.content
        body = response.json()
        assert "five business days" in body["text"]
        [draft] = google.drafts_of(mailbox)
        assert draft["id"] == body["draft_id"]
        assert draft["message"]["threadId"] == asked["threadId"]
        parsed = draft["parsed"]
        assert parsed["To"] == CUSTOMER and parsed["Subject"] == "Re: Refund timing"
        assert parsed["In-Reply-To"] == f"<{asked['id']}@mail.example.test>"
        assert body["text"] in parsed.get_content()
        # a draft only: nothing was sent
        assert not [m for m in mailbox.messages.values() if "SENT" in m["labelIds"]]
        assert not [r for r in google.requests if r["path"].endswith("/send")]
        # its cost is on the gmail channel in usage, and so is the member's conversation
        answers = UsageRecord.objects.filter(organization=org_a.organization, kind="chat")
        assert set(answers.values_list("channel", flat=True)) == {"gmail"}
        with schema_context(org_a.slug):
            assert ChatSession.objects.get(pk=body["session_id"]).channel == "gmail"

    def test_without_the_compose_permission_drafting_asks_to_reconnect(
        self, org_a, mailbox, google, client_for, public_client
    ):
        _connect(org_a, org_a.member, google, client_for, public_client, compose=False)
        connection = GmailConnection.objects.get(organization=org_a.organization)

        response = client_for(org_a, "member").post(
            f"/api/v1/gmail/connections/{connection.pk}/drafts",
            {"thread_id": "abc", "assistant": "00000000-0000-0000-0000-000000000000"},
            format="json",
        )

        assert response.status_code == 409
        assert response.json()["error"]["code"] == "gmail_compose_missing"
        assert not mailbox.drafts


# -- disconnecting ----------------------------------------------------------------------


def test_disconnecting_forgets_the_token(org_a, connected, client_for):
    response = client_for(org_a, "member").delete(f"/api/v1/gmail/connections/{connected.pk}")

    assert response.status_code == 204
    assert not GmailConnection.objects.filter(pk=connected.pk).exists()


def test_another_organizations_member_gets_404(org_a, org_b, connected, client_for):
    for path in ("", "/labels", "/sync", "/drafts"):
        url = f"/api/v1/gmail/connections/{connected.pk}{path}"
        method = "get" if path in ("", "/labels") else "post"
        response = getattr(client_for(org_b, "admin"), method)(url, {}, format="json")
        assert response.status_code == 404


# -- the real worker ----------------------------------------------------------------------


@pytest.fixture
def committed_connection(organizations, django_db_blocker, google, mailbox):
    """Committed rows (a worker sees nothing else): a collection and the member's
    connection to the fake's mailbox, configured; removed at the end."""
    from knowledge_base import services as knowledge_services
    from knowledge_base.models import Collection
    from tests.factories import local_embedding_model

    org = organizations["alpha"]
    refresh = "1//0g-worker-test"
    google.refresh_tokens[refresh] = (MAILBOX, ["https://www.googleapis.com/auth/gmail.readonly"])
    with django_db_blocker.unblock():
        with schema_context(org.slug):
            collection = knowledge_services.collection_create(
                name="Gmail worker test",
                embedding_model=local_embedding_model(),
                chunk_size=80,
                chunk_overlap=10,
            )
        GmailConnection.objects.filter(organization=org.organization, user=org.member).delete()
        connection = GmailConnection.objects.create(
            organization=org.organization,
            user=org.member,
            email=MAILBOX,
            scopes=["https://www.googleapis.com/auth/gmail.readonly"],
            refresh_token_encrypted=crypto.encrypt(refresh),
            label_id=mailbox.support,
            label_name="Support",
            collection_id=collection.pk,
        )
        yield org, connection, collection
        GmailConnection.objects.filter(pk=connection.pk).delete()
        with schema_context(org.slug):
            knowledge_services.collection_delete(
                collection=Collection.objects.get(pk=collection.pk)
            )


def test_a_sync_runs_on_the_worker_and_shows_its_progress(
    committed_connection, celery_worker, django_db_blocker, google, mailbox
):
    import time

    from tests.helpers import HostClient

    org, connection, collection = committed_connection
    for n in range(6):
        google.receive(
            mailbox,
            sender=CUSTOMER,
            subject=f"Worker {n}",
            body=f"Body {n}.",
            labels=[mailbox.support],
        )
    with django_db_blocker.unblock():
        client = HostClient(org.host, org.member)
        queued = client.post(f"/api/v1/gmail/connections/{connection.pk}/sync")
        assert queued.status_code == 202, queued.content
        assert queued.json()["sync_status"] in ("queued", "running", "idle")
        seen, deadline = [], time.monotonic() + 90
        while time.monotonic() < deadline:
            state = client.get(f"/api/v1/gmail/connections/{connection.pk}").json()
            seen.append((state["sync_status"], state["sync_threads_done"]))
            if state["last_sync_at"]:
                break
            time.sleep(0.05)

        assert state["sync_status"] == "idle", seen
        assert state["last_sync_result"]["added"] == 6
        assert state["sync_threads_done"] == state["sync_threads_total"] == 6
        with schema_context(org.slug):
            documents = Document.objects.filter(collection=collection)
            assert documents.count() == 6

            def ingested():
                return not documents.exclude(status="completed").exists()

            deadline = time.monotonic() + 120  # the worker ingests them next
            while not ingested() and time.monotonic() < deadline:
                time.sleep(0.2)
            assert ingested(), list(documents.values_list("status", flat=True))


def _wait_for_sync(connection, *, after=None, timeout=90.0) -> GmailConnection:
    """The connection once the worker finished a run (``last_sync_at`` past ``after``)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        connection.refresh_from_db()
        done = connection.sync_status == GmailSyncStatus.IDLE and connection.last_sync_at
        if done and (after is None or connection.last_sync_at > after):
            return connection
        time.sleep(0.1)
    raise AssertionError(f"no sync finished: {connection.sync_status} {connection.last_error}")


def test_the_beat_syncs_a_label_change_on_the_worker_without_anyone_pressing_sync(
    committed_connection, celery_worker, django_db_blocker, google, mailbox, settings
):
    """The beat task's body and the real worker: nobody calls the sync endpoint."""
    from integrations.gmail.beat import gmail_sync_due_task

    org, connection, collection = committed_connection
    kept, leaving = (
        google.receive(
            mailbox, sender=CUSTOMER, subject=subject, body=f"{subject}.", labels=[mailbox.support]
        )
        for subject in ("Kept", "Leaving")
    )
    with django_db_blocker.unblock():
        # never synced: due at the first beat; a second beat run adds nothing
        assert gmail_sync_due_task() == 1
        assert gmail_sync_due_task() == 0
        first = _wait_for_sync(connection)
        assert first.last_sync_result["added"] == 2 and first.last_sync_result["full"]
        # given: the label changes at Google
        google.label_remove(mailbox, leaving["threadId"], mailbox.support)
        arrived = google.receive(
            mailbox, sender=CUSTOMER, subject="Arrived", body="Arrived.", labels=[mailbox.support]
        )
        assert gmail_sync_due_task() == 0  # synced a moment ago: not due yet

        # when: the interval has passed and the beat runs (twice)
        later = _later(settings.GMAIL_SYNC_INTERVAL_MINUTES + 1)
        assert gmail_sync_due(now=later) == [str(connection.pk)]
        assert gmail_sync_due(now=later) == []
        second = _wait_for_sync(connection, after=first.last_sync_at)

        # then: the change is in the collection, incrementally
        result = second.last_sync_result
        assert (result["added"], result["removed"], result["full"]) == (1, 1, False)
        assert set(_documents(org, collection)) == {kept["threadId"], arrived["threadId"]}
