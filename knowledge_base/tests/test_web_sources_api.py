"""Documents from URLs over HTTP: adding a page or a sitemap, field errors for URLs the
outbound policy refuses, pages and sitemaps listed with their fetch state, roles, audit
entries, and another organization's 404."""

import pytest
from django_tenants.utils import schema_context

from audit.models import AuditEvent
from knowledge_base import web_sources
from knowledge_base.models import Document, Sitemap
from tests.helpers import assert_error

PAGE = "<html><head><title>Shipping</title></head><body><main><p>Parcels ship in 2 days.</p></main></body></html>"


@pytest.fixture
def api_collection(org_a, client_for):
    response = client_for(org_a, "member").post(
        "/api/v1/collections", {"name": "Web", "chunk_size": 100, "chunk_overlap": 10}
    )
    assert response.status_code == 201, response.json()
    return response.json()


@pytest.mark.django_db
class TestPages:
    def test_a_page_is_added_fetched_and_listed_with_its_source_and_fetch_state(
        self, org_a, client_for, api_collection, site
    ):
        member = client_for(org_a, "member")
        base = f"/api/v1/collections/{api_collection['id']}/documents"
        url = site.page("/shipping", PAGE)

        response = member.post(f"{base}/url", {"url": url, "refresh_minutes": 60})

        assert response.status_code == 201, response.json()
        (result,) = response.json()["results"]
        document = result["document"]
        assert result["status"] == "created"
        assert document["source"] == "url" and document["source_url"] == url
        assert document["status"] == "pending" and document["fetch_status"] == "pending"
        assert document["refresh_minutes"] == 60
        with schema_context(org_a.slug):
            event = AuditEvent.objects.get(action="knowledge.web_page_added")
            assert event.actor == org_a.member and event.changes["url"] == url
            lease = Document.objects.get(pk=document["id"]).next_fetch_at.isoformat()
            web_sources.web_page_fetch(document_id=document["id"], lease=lease)

        listed = member.get(base).json()
        assert listed["count"] == 1
        (row,) = listed["results"]
        assert row["title"] == "Shipping"
        assert row["fetch_status"] == "changed" and row["fetched_at"]
        assert row["next_fetch_at"] > row["fetched_at"]

        # the same URL again is a duplicate, not a second document
        again = member.post(f"{base}/url", {"url": url})
        assert again.status_code == 200
        assert again.json()["results"][0]["status"] == "duplicate"

    @pytest.mark.parametrize(
        ("url", "message"),
        [
            ("not a url", "Enter a valid URL."),
            ("ftp://example.com/file", "Only http and https"),
            ("http://169.254.169.254/latest/meta-data/", "not allowed for outbound requests"),
            ("http://10.0.0.8/intranet", "not allowed for outbound requests"),
            ("http://user:secret@example.com/", "user name or password"),
        ],
    )
    def test_urls_the_policy_refuses_are_field_errors(
        self, org_a, client_for, api_collection, url, message
    ):
        base = f"/api/v1/collections/{api_collection['id']}/documents"
        response = client_for(org_a, "member").post(f"{base}/url", {"url": url})
        error = assert_error(response, 400)
        assert message in " ".join(error["fields"]["url"])
        with schema_context(org_a.slug):
            assert not Document.objects.exists()

    def test_loopback_is_refused_unless_the_operator_allow_lists_it(
        self, org_a, client_for, api_collection, site, settings
    ):
        settings.OUTBOUND_ALLOWED_NETWORKS = []
        base = f"/api/v1/collections/{api_collection['id']}/documents"
        response = client_for(org_a, "member").post(f"{base}/url", {"url": site.url("/")})
        assert "not allowed" in " ".join(assert_error(response, 400)["fields"]["url"])

    def test_refresh_interval_is_validated(self, org_a, client_for, api_collection, site):
        base = f"/api/v1/collections/{api_collection['id']}/documents"
        response = client_for(org_a, "member").post(
            f"{base}/url", {"url": site.url("/x"), "refresh_minutes": 2}
        )
        assert "refresh_minutes" in assert_error(response, 400)["fields"]

    def test_a_viewer_cannot_add_and_another_organization_gets_404(
        self, org_a, org_b, client_for, api_collection, site
    ):
        base = f"/api/v1/collections/{api_collection['id']}/documents"
        assert_error(client_for(org_a, "viewer").post(f"{base}/url", {"url": site.url("/")}), 403)
        assert_error(client_for(org_b, "admin").post(f"{base}/url", {"url": site.url("/")}), 404)
        with schema_context(org_a.slug):
            assert not Document.objects.exists()


@pytest.mark.django_db
class TestSitemaps:
    def test_a_sitemap_is_added_listed_read_and_deleted_with_its_pages(
        self, org_a, client_for, api_collection, site
    ):
        member = client_for(org_a, "member")
        base = f"/api/v1/collections/{api_collection['id']}/sitemaps"
        site.page("/a", PAGE)
        url = site.xml(
            "/sitemap.xml",
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<url><loc>{site.url('/a')}</loc></url></urlset>",
        )

        created = member.post(base, {"url": url})
        assert created.status_code == 201, created.json()
        sitemap = created.json()
        assert sitemap["fetch_status"] == "pending" and sitemap["refresh_minutes"] == 1440
        assert_error(member.post(base, {"url": url}), 400)  # already there
        with schema_context(org_a.slug):
            lease = Sitemap.objects.get(pk=sitemap["id"]).next_fetch_at.isoformat()
            assert web_sources.sitemap_fetch(sitemap_id=sitemap["id"], lease=lease) == "changed"

        listed = member.get(base, {"page_size": 1}).json()
        assert listed["count"] == 1 and listed["results"][0]["page_count"] == 1
        assert member.get(f"{base}/{sitemap['id']}").json()["fetch_status"] == "changed"
        documents = member.get(f"/api/v1/collections/{api_collection['id']}/documents").json()
        assert documents["results"][0]["sitemap"] == sitemap["id"]

        assert member.delete(f"{base}/{sitemap['id']}").status_code == 204
        with schema_context(org_a.slug):
            assert not Document.objects.exists()
            actions = set(AuditEvent.objects.values_list("action", flat=True))
        assert {"knowledge.sitemap_added", "knowledge.sitemap_deleted"} <= actions

    def test_bad_urls_viewers_and_other_organizations(
        self, org_a, org_b, client_for, api_collection, site
    ):
        base = f"/api/v1/collections/{api_collection['id']}/sitemaps"
        member = client_for(org_a, "member")
        error = assert_error(member.post(base, {"url": "http://127.0.0.1:0/"}), 400)
        assert "url" in error["fields"]
        assert_error(client_for(org_a, "viewer").post(base, {"url": site.url("/s.xml")}), 403)
        sitemap = member.post(base, {"url": site.url("/s.xml")}).json()
        assert client_for(org_a, "viewer").get(base).json()["count"] == 1
        other = client_for(org_b, "admin")
        assert_error(other.get(base), 404)
        assert_error(other.get(f"{base}/{sitemap['id']}"), 404)
        assert_error(other.delete(f"{base}/{sitemap['id']}"), 404)
        with schema_context(org_a.slug):
            assert Sitemap.objects.count() == 1
