"""The Files API: uploads (several, limits), list, get, download, delete; roles,
quota, the retention setting and the isolation between organizations."""

import datetime as dt

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from audit.models import AuditEvent
from files import services
from files.models import File
from files.tests.samples import named, png
from tests.factories import upload_files
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

CSV = b"region,amount\nNorth,10.50\nSouth,4.25\nNorth,1.25\n"


def _upload(client, *files):
    return client.post(
        "/api/v1/files", {"files": [named(n, d) for n, d in files]}, format="multipart"
    )


def _count(org) -> int:
    with schema_context(org.slug):
        return File.objects.count()


class TestUpload:
    def test_several_files_are_stored_typed_by_content_and_then_read(self, org_a, client_for):
        member = client_for(org_a, "member")
        response = _upload(
            member, ("notes.txt", b"Meeting notes."), ("sales.csv", CSV), ("photo.png", png())
        )
        assert response.status_code == 201, response.json()
        results = response.json()["results"]
        assert [(r["name"], r["kind"], r["status"]) for r in results] == [
            ("notes.txt", "document", "pending"),
            ("sales.csv", "table", "pending"),
            ("photo.png", "image", "pending"),
        ]
        with schema_context(org_a.slug):
            for result in results:
                services.file_process(file_id=result["id"])
        by_name = {f["name"]: f for f in member.get("/api/v1/files").json()["results"]}
        assert by_name["notes.txt"]["status"] == "processed"
        summary = by_name["sales.csv"]["data_summary"]
        assert summary["row_count"] == 3
        assert {"name": "amount", "sum": "16"}.items() <= summary["columns"][1].items()
        assert by_name["photo.png"]["metadata"] == {"width": 40, "height": 30}
        with schema_context(org_a.slug):
            assert File.objects.get(name="notes.txt").extracted_text == "Meeting notes."

    def test_too_large_is_413_and_stores_nothing(self, org_a, client_for, settings):
        settings.FILES_MAX_UPLOAD_BYTES = 20
        before = _count(org_a)
        response = _upload(
            client_for(org_a, "member"), ("ok.txt", b"small"), ("big.txt", b"x" * 21)
        )
        error = assert_error(response, 413, "file_too_large")
        assert "big.txt" in error["message"] and "20 bytes" in error["message"]
        assert _count(org_a) == before

    def test_unsupported_type_is_415_naming_it_and_stores_nothing(self, org_a, client_for):
        before = _count(org_a)
        response = _upload(
            client_for(org_a, "member"), ("ok.txt", b"fine"), ("tool.exe", b"MZ\x90\x00\x03" * 10)
        )
        error = assert_error(response, 415, "unsupported_media_type")
        assert "tool.exe" in error["message"]
        assert _count(org_a) == before

    def test_content_decides_not_the_name(self, org_a, client_for):
        response = _upload(client_for(org_a, "member"), ("photo.png", b"just some text"))
        assert "not an image" in assert_error(response, 415)["message"]

    def test_an_empty_file_is_400(self, org_a, client_for):
        assert_error(_upload(client_for(org_a, "member"), ("empty.txt", b"")), 400, "empty_file")

    def test_no_files_is_a_field_error(self, org_a, client_for):
        response = client_for(org_a, "member").post("/api/v1/files", {}, format="multipart")
        assert "files" in assert_error(response, 400)["fields"]

    def test_storage_counts_against_the_plan(self, org_a, client_for, use_plan):
        use_plan(max_storage_bytes=1)
        before = _count(org_a)
        response = _upload(client_for(org_a, "member"), ("a.txt", b"too much"))
        assert "bytes of storage" in assert_error(response, 402, "quota_exceeded")["message"]
        assert _count(org_a) == before


def _stored(client) -> int:
    quotas = client.get("/api/v1/usage/quotas").json()["quotas"]
    return next(q["used"] for q in quotas if q["name"] == "max_storage_bytes")


def test_attachments_and_knowledge_documents_share_the_plans_storage(
    org_a, client_for, use_plan, collection, django_capture_on_commit_callbacks
):
    from core.errors import QuotaExceeded
    from knowledge_base import services as knowledge_services

    admin, member = client_for(org_a, "admin"), client_for(org_a, "member")
    before = _stored(admin)
    use_plan(max_storage_bytes=before + 100)
    first = _upload(member, ("big.txt", b"a" * 80))
    assert first.status_code == 201, first.json()
    assert _stored(admin) == before + 80  # the attachment is counted
    # 20 bytes left: neither another attachment nor a knowledge document of 30 fits.
    assert_error(_upload(member, ("more.txt", b"b" * 30)), 402, "quota_exceeded")
    with schema_context(org_a.slug), pytest.raises(QuotaExceeded):
        knowledge_services.documents_upload(
            collection=collection,
            uploads=[knowledge_services.Upload("guide.txt", b"c" * 30)],
            max_bytes=1000,
        )
    # Deleting the attachment gives the room back.
    with django_capture_on_commit_callbacks(execute=True):
        member.delete(f"/api/v1/files/{first.json()['results'][0]['id']}")
    assert _stored(admin) == before
    assert _upload(member, ("more.txt", b"b" * 30)).status_code == 201


class TestReadAndDelete:
    def test_members_see_their_own_files_admins_all(self, org_a, client_for):
        upload_files(org_a, [("mine.txt", b"member's")], user=org_a.user("member"))
        upload_files(org_a, [("admins.txt", b"admin's")])
        member_names = {
            f["name"] for f in client_for(org_a, "member").get("/api/v1/files").json()["results"]
        }
        admin_names = {
            f["name"] for f in client_for(org_a, "admin").get("/api/v1/files").json()["results"]
        }
        assert "mine.txt" in member_names and "admins.txt" not in member_names
        assert {"mine.txt", "admins.txt"} <= admin_names

    def test_download_streams_the_bytes(self, org_a, client_for):
        [file] = upload_files(org_a, [("data.csv", CSV)], user=org_a.user("member"))
        response = client_for(org_a, "member").get(f"/api/v1/files/{file.id}/download")
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == CSV
        assert "data.csv" in response["Content-Disposition"]

    def test_delete_removes_the_row_then_the_bytes_after_commit(
        self, org_a, client_for, django_capture_on_commit_callbacks
    ):
        [file] = upload_files(org_a, [("gone.txt", b"bye")], user=org_a.user("member"))
        storage, key = file.storage.storage, file.storage.name
        assert storage.exists(key)
        with django_capture_on_commit_callbacks(execute=True):
            response = client_for(org_a, "member").delete(f"/api/v1/files/{file.id}")
        assert response.status_code == 204
        assert not storage.exists(key)
        with schema_context(org_a.slug):
            assert not File.objects.filter(pk=file.pk).exists()
            assert AuditEvent.objects.filter(action="file.deleted", target_id=str(file.pk)).exists()

    def test_another_members_file_is_404(self, org_a, client_for):
        [file] = upload_files(org_a, [("admin.txt", b"x")])
        viewer = client_for(org_a, "viewer")
        assert_error(viewer.get(f"/api/v1/files/{file.id}"), 404)
        assert_error(viewer.delete(f"/api/v1/files/{file.id}"), 404)

    def test_another_organization_gets_404(self, org_a, org_b, client_for):
        [file] = upload_files(org_a, [("secret.txt", b"alpha only")])
        intruder = client_for(org_b, "admin")
        assert_error(intruder.get(f"/api/v1/files/{file.id}"), 404)
        assert_error(intruder.get(f"/api/v1/files/{file.id}/download"), 404)
        assert_error(intruder.delete(f"/api/v1/files/{file.id}"), 404)
        assert _count(org_a) >= 1

    def test_a_file_the_reader_refuses_is_failed_with_the_reason(self, org_a, client_for, settings):
        settings.KNOWLEDGE_EXTRACTION_MAX_ROWS = 2
        [file] = upload_files(org_a, [("long.csv", CSV)], user=org_a.user("member"))
        body = client_for(org_a, "member").get(f"/api/v1/files/{file.id}").json()
        assert body["status"] == "failed"
        assert "more than 2 rows" in body["error"]


class TestRetention:
    def test_admin_sets_retention_members_cannot(self, org_a, client_for):
        admin, member = client_for(org_a, "admin"), client_for(org_a, "member")
        assert member.get("/api/v1/files/settings").json()["attachment_retention_days"] == 90
        assert_error(
            member.patch("/api/v1/files/settings", {"attachment_retention_days": 7}, format="json"),
            403,
        )
        response = admin.patch(
            "/api/v1/files/settings", {"attachment_retention_days": 7}, format="json"
        )
        assert response.status_code == 200 and response.json()["attachment_retention_days"] == 7
        bad = admin.patch(
            "/api/v1/files/settings", {"attachment_retention_days": -1}, format="json"
        )
        assert "attachment_retention_days" in assert_error(bad, 400)["fields"]

    def test_expired_attachments_go_with_their_bytes_and_are_recorded(
        self, org_a, django_capture_on_commit_callbacks
    ):
        old, new = upload_files(org_a, [("old.txt", b"old"), ("new.txt", b"new")])
        with schema_context(org_a.slug):
            services.file_settings_update(attachment_retention_days=30, actor=None)
            File.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=31))
            key = old.storage.name
            with django_capture_on_commit_callbacks(execute=True):
                assert services.attachments_expire() == 1
            assert list(File.objects.filter(pk__in=[old.pk, new.pk])) == [new]
            assert not old.storage.storage.exists(key)
            event = AuditEvent.objects.get(action="files.expired")
            assert event.changes == {"deleted": 1, "retention_days": 30}
            # Twice is harmless.
            assert services.attachments_expire() == 0

    def test_the_beat_task_sweeps_every_organization_and_records_it_in_each(
        self, org_a, org_b, django_capture_on_commit_callbacks
    ):
        from config.celery import app
        from files.tasks import attachments_expire_task

        schedule = {entry["task"] for entry in app.conf.beat_schedule.values()}
        assert "files.attachments_expire" in schedule
        keys = {}
        for org, days in ((org_a, 30), (org_b, 7)):
            old, _recent = upload_files(org, [("old.txt", b"old"), ("recent.txt", b"new")])
            keys[org.slug] = (old.storage.storage, old.storage.name)
            with schema_context(org.slug):
                services.file_settings_update(attachment_retention_days=days, actor=None)
                File.objects.filter(pk=old.pk).update(
                    created_at=timezone.now() - dt.timedelta(days=days + 1)
                )
        with django_capture_on_commit_callbacks(execute=True):
            removed = attachments_expire_task.apply().get()
        assert removed[org_a.slug] == 1 and removed[org_b.slug] == 1
        for org, days in ((org_a, 30), (org_b, 7)):
            storage, key = keys[org.slug]
            assert not storage.exists(key)
            with schema_context(org.slug):
                assert not File.objects.filter(name="old.txt").exists()
                assert File.objects.filter(name="recent.txt").exists()
                event = AuditEvent.objects.get(action="files.expired")
                assert event.changes == {"deleted": 1, "retention_days": days}

    def test_zero_keeps_forever(self, org_a):
        [file] = upload_files(org_a, [("keep.txt", b"keep")])
        with schema_context(org_a.slug):
            services.file_settings_update(attachment_retention_days=0, actor=None)
            File.objects.filter(pk=file.pk).update(
                created_at=timezone.now() - dt.timedelta(days=9999)
            )
            assert services.attachments_expire() == 0

    def test_knowledge_files_are_not_attachments(self, org_a, collection):
        from knowledge_base import services as knowledge_services

        with schema_context(org_a.slug):
            knowledge_services.documents_upload(
                collection=collection,
                uploads=[knowledge_services.Upload("guide.txt", b"How to reset a password.")],
                max_bytes=1000,
            )
            services.file_settings_update(attachment_retention_days=1, actor=None)
            File.objects.update(created_at=timezone.now() - dt.timedelta(days=5))
            assert services.attachments_expire() == 0
            assert File.objects.get(name="guide.txt").purpose == "knowledge"


def test_image_too_many_pixels_is_refused(org_a, client_for, settings):
    settings.FILES_IMAGE_MAX_PIXELS = 100
    response = _upload(client_for(org_a, "member"), ("big.png", png(20, 20)))
    assert "pixels" in assert_error(response, 415)["message"]
