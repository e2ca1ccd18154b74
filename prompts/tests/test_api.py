"""Prompt templates through the API: versions, publish and rollback, diff, render with
field errors, visibility, import/export, usage, and another organization's 404."""

import pytest
from django_tenants.utils import schema_context

from audit.models import AuditEvent
from prompts.models import PromptTemplate, PromptVersion
from tests.helpers import assert_error

BODY = "Summarise {{ topic }} for {{ audience }}."
VARIABLES = [
    {"name": "topic", "type": "short_text"},
    {"name": "audience", "type": "choice", "choices": ["staff", "customers"]},
]


def _create(client, **overrides):
    payload = {
        "name": "Summary",
        "category": "writing",
        "tags": ["Summary", "weekly"],
        "body": BODY,
        "variables": VARIABLES,
        **overrides,
    }
    return client.post("/api/v1/prompts", payload, format="json")


@pytest.fixture
def template(org_a, client_for):
    response = _create(client_for(org_a, "member"))
    assert response.status_code == 201, response.json()
    return response.json()


@pytest.mark.django_db
class TestTemplates:
    def test_create_publishes_version_one_and_audits(self, org_a, template):
        assert template["published_version"]["number"] == 1
        assert template["tags"] == ["summary", "weekly"]
        with schema_context(org_a.slug):
            assert AuditEvent.objects.filter(action="prompt.created").count() == 1

    def test_save_time_errors_name_the_field(self, org_a, client_for):
        member = client_for(org_a, "member")
        error = assert_error(_create(member, body="Hi {{ nobody }}"), 400)
        assert "nobody" in error["fields"]["body"][0]
        error = assert_error(_create(member, body="Hi {% if %}"), 400)
        assert "line 1" in error["fields"]["body"][0]
        error = assert_error(_create(member, variables=[{"name": "x", "type": "colour"}]), 400)
        assert "variables" in error["fields"]
        with schema_context(org_a.slug):
            assert not PromptTemplate.objects.exists()

    def test_versions_publish_rollback_and_diff(self, org_a, client_for, template):
        member = client_for(org_a, "member")
        base = f"/api/v1/prompts/{template['id']}"
        second = member.post(
            f"{base}/versions",
            {
                "body": "Summarise {{ topic }} for {{ audience }} in {{ words }} words.",
                "variables": [*VARIABLES, {"name": "words", "type": "number", "default": 100}],
                "note": "length",
            },
            format="json",
        )
        assert second.status_code == 201, second.json()
        assert member.get(base).json()["published_version"]["number"] == 1  # not published yet
        assert member.post(f"{base}/versions/2/publish").json()["published_version"]["number"] == 2
        rendered = member.post(
            f"{base}/render", {"values": {"topic": "refunds", "audience": "staff"}}, format="json"
        ).json()
        assert rendered == {"text": "Summarise refunds for staff in 100 words.", "version": 2}
        # rollback
        assert member.post(f"{base}/versions/1/publish").json()["published_version"]["number"] == 1
        diff = member.get(f"{base}/diff?from_version=1&to_version=2").json()
        assert diff["variables_added"] == ["words"]
        assert "+Summarise {{ topic }} for {{ audience }} in {{ words }} words." in diff["body"]
        with schema_context(org_a.slug):
            assert PromptVersion.objects.filter(template_id=template["id"]).count() == 2
            published = AuditEvent.objects.filter(action="prompt.published")
            assert [e.changes["published_version"] for e in published.order_by("created_at")] == [
                [1, 2],
                [2, 1],
            ]

    def test_render_errors_name_the_variable_and_change_nothing(self, org_a, client_for, template):
        member = client_for(org_a, "member")
        url = f"/api/v1/prompts/{template['id']}/render"
        error = assert_error(member.post(url, {"values": {"topic": "x"}}, format="json"), 400)
        assert "values.audience" in error["fields"]
        error = assert_error(
            member.post(url, {"values": {"topic": "x", "audience": "all"}}, format="json"), 400
        )
        assert "values.audience" in error["fields"]
        assert_error(member.post(url, {"version": 9, "values": {}}, format="json"), 404)

    def test_preview_of_an_unsaved_body(self, org_a, client_for):
        member = client_for(org_a, "member")
        answer = member.post(
            "/api/v1/prompt-preview",
            {
                "body": "Hi {{ name|upper }}",
                "variables": [{"name": "name"}],
                "values": {"name": "ann"},
            },
            format="json",
        )
        assert answer.json()["text"] == "Hi ANN"
        refused = member.post(
            "/api/v1/prompt-preview",
            {
                "body": "{{ name.__class__ }}",
                "variables": [{"name": "name"}],
                "values": {"name": "a"},
            },
            format="json",
        )
        assert "unsafe" in assert_error(refused, 400)["fields"]["body"][0]

    def test_private_templates_are_their_authors_only(self, org_a, client_for):
        member, admin = client_for(org_a, "member"), client_for(org_a, "admin")
        private = _create(member, name="Mine", visibility="private").json()
        assert_error(admin.get(f"/api/v1/prompts/{private['id']}"), 404)
        assert [t["name"] for t in admin.get("/api/v1/prompts").json()["results"]] == []
        assert [t["name"] for t in member.get("/api/v1/prompts").json()["results"]] == ["Mine"]

    def test_viewer_reads_but_does_not_write(self, org_a, client_for, template):
        viewer = client_for(org_a, "viewer")
        assert viewer.get(f"/api/v1/prompts/{template['id']}").status_code == 200
        assert_error(_create(viewer), 403)
        assert_error(viewer.post(f"/api/v1/prompts/{template['id']}/versions/1/publish"), 403)

    def test_export_then_import_keeps_versions(self, org_a, org_b, client_for, template):
        member = client_for(org_a, "member")
        base = f"/api/v1/prompts/{template['id']}"
        member.post(
            f"{base}/versions",
            {"body": "v2 {{ topic }}", "variables": VARIABLES[:1]},
            format="json",
        )
        exported = member.get(f"{base}/export").json()
        assert [v["number"] for v in exported["versions"]] == [1, 2]
        imported = client_for(org_b, "member").post(
            "/api/v1/prompts/import", {"template": exported}, format="json"
        )
        assert imported.status_code == 201, imported.json()
        assert imported.json()["published_version"]["number"] == 1
        with schema_context(org_b.slug):
            assert PromptVersion.objects.count() == 2
        broken = {**exported, "versions": [{"body": "{{ x "}]}
        error = assert_error(
            client_for(org_b, "member").post(
                "/api/v1/prompts/import", {"template": broken}, format="json"
            ),
            400,
        )
        assert any(k.startswith("versions.") for k in error["fields"])

    def test_another_organization_gets_404(self, org_b, client_for, template):
        other = client_for(org_b, "admin")
        for path in ("", "/versions", "/export", "/diff?from_version=1&to_version=1"):
            assert_error(other.get(f"/api/v1/prompts/{template['id']}{path}"), 404)
        assert_error(other.post(f"/api/v1/prompts/{template['id']}/render", {}, format="json"), 404)

    def test_versions_are_immutable(self, org_a, template):
        with schema_context(org_a.slug):
            version = PromptVersion.objects.get()
            version.body = "changed"
            with pytest.raises(ValueError):
                version.save()

    def test_uses_are_counted_per_version(self, org_a, client_for, template):
        # given: version 2 published after one use of version 1
        member = client_for(org_a, "member")
        base = f"/api/v1/prompts/{template['id']}"
        values = {"values": {"topic": "refunds", "audience": "staff"}, "record_use": "chat"}
        assert member.post(f"{base}/render", values, format="json").status_code == 200
        second = member.post(
            f"{base}/versions",
            {"body": BODY + " Briefly.", "variables": VARIABLES},
            format="json",
        )
        assert second.status_code == 201, second.json()
        member.post(f"{base}/versions/2/publish", {}, format="json")
        # when: the composer uses the published version twice
        for _ in range(2):
            assert member.post(f"{base}/render", values, format="json").status_code == 200
        # then: the history shows each version's uses and its last use
        versions = {v["number"]: v for v in member.get(f"{base}/versions").json()["results"]}
        assert (versions[1]["uses"], versions[2]["uses"]) == (1, 2)
        assert versions[2]["last_used_at"] >= versions[1]["last_used_at"]
        assert (versions[1]["tokens"], versions[1]["cost"]) == (0, "0.00000000")
        assert member.get(base).json()["uses"] == 3

    def test_list_is_bounded_in_queries(self, org_a, client_for, django_assert_max_num_queries):
        member = client_for(org_a, "member")
        for n in range(3):
            _create(member, name=f"T{n}")
        with django_assert_max_num_queries(12):
            assert len(member.get("/api/v1/prompts").json()["results"]) == 3
