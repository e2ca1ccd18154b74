"""Collections, documents and search over HTTP: roles, uploads, errors, isolation."""

import io

import pytest
from django.core.management import call_command
from django_tenants.utils import schema_context

from knowledge_base.models import Collection, Document, DocumentChunk
from tests.factories import process_pending
from tests.helpers import assert_error


def _named(name: str, data: bytes):
    handle = io.BytesIO(data)
    handle.name = name
    return handle


@pytest.fixture
def api_collection(org_a, client_for):
    response = client_for(org_a, "member").post(
        "/api/v1/collections",
        {"name": "Docs", "chunk_size": 100, "chunk_overlap": 10},
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()


@pytest.mark.django_db
class TestCollections:
    def test_defaults_to_the_offline_embedder(self, api_collection):
        assert api_collection["embedding_model"] == "local/all-minilm-l6-v2"
        assert api_collection["embedding_dimensions"] == 384

    def test_viewer_reads_but_cannot_write(self, org_a, client_for, api_collection):
        viewer = client_for(org_a, "viewer")
        assert viewer.get("/api/v1/collections").json()["count"] == 1
        assert_error(viewer.post("/api/v1/collections", {"name": "x"}), 403)
        assert_error(viewer.delete(f"/api/v1/collections/{api_collection['id']}"), 403)

    def test_chat_model_cannot_embed(self, org_a, client_for):
        response = client_for(org_a, "member").post(
            "/api/v1/collections", {"name": "x", "embedding_model": "openai/gpt-4o"}, format="json"
        )
        assert "embedding_model" in assert_error(response, 400)["fields"]

    def test_overlap_must_be_below_half_the_chunk_size(self, org_a, client_for):
        response = client_for(org_a, "member").post(
            "/api/v1/collections",
            {"name": "x", "chunk_size": 100, "chunk_overlap": 60},
            format="json",
        )
        assert "chunk_overlap" in assert_error(response, 400)["fields"]

    def test_embedding_model_cannot_be_changed(self, org_a, client_for, api_collection):
        response = client_for(org_a, "member").patch(
            f"/api/v1/collections/{api_collection['id']}",
            {"embedding_model": "openai/text-embedding-3-small", "name": "Renamed"},
            format="json",
        )
        assert (
            response.status_code == 200
            and response.json()["embedding_model"] == "local/all-minilm-l6-v2"
        )
        assert response.json()["name"] == "Renamed"


@pytest.mark.django_db
class TestDocuments:
    def test_upload_several_files_then_watch_them_complete(self, org_a, client_for, api_collection):
        member = client_for(org_a, "member")
        url = f"/api/v1/collections/{api_collection['id']}/documents"
        response = member.post(
            url,
            {
                "files": [
                    _named("guide.md", b"# Guide\n\nHow to reset a password: open settings."),
                    _named("faq.txt", b"Refunds are paid within five days."),
                ]
            },
            format="multipart",
        )
        assert response.status_code == 201, response.json()
        results = response.json()["results"]
        assert [r["status"] for r in results] == ["created", "created"]
        assert {r["document"]["status"] for r in results} == {"pending"}

        process_pending(org_a)

        listed = member.get(url, {"status": "completed"}).json()
        assert listed["count"] == 2
        detail = member.get(f"{url}/{results[0]['document']['id']}").json()
        assert detail["progress"] == 1.0 and detail["chunks_total"] >= 1

    def test_duplicate_upload_is_reported(self, org_a, client_for, api_collection):
        member = client_for(org_a, "member")
        url = f"/api/v1/collections/{api_collection['id']}/documents"
        first = member.post(
            url, {"files": [_named("a.md", b"# A\n\nsame")]}, format="multipart"
        ).json()
        again = member.post(url, {"files": [_named("b.md", b"# A\n\nsame")]}, format="multipart")
        assert again.status_code == 200
        [result] = again.json()["results"]
        assert result["status"] == "duplicate"
        assert result["duplicate_of"] == first["results"][0]["document"]["id"]

    def test_unsupported_type_is_415_and_nothing_is_stored(self, org_a, client_for, api_collection):
        response = client_for(org_a, "member").post(
            f"/api/v1/collections/{api_collection['id']}/documents",
            {
                "files": [
                    _named("ok.md", b"# fine"),
                    _named("photo.txt", b"\xff\xd8\xff\xe0" + bytes(500)),
                ]
            },
            format="multipart",
        )
        assert "photo.txt" in assert_error(response, 415, "unsupported_media_type")["message"]
        with schema_context(org_a.slug):
            assert not Document.objects.exists()

    def test_oversized_file_is_413(self, org_a, client_for, api_collection, settings):
        settings.KNOWLEDGE_MAX_UPLOAD_BYTES = 100
        response = client_for(org_a, "member").post(
            f"/api/v1/collections/{api_collection['id']}/documents",
            {"files": [_named("big.txt", b"word " * 100)]},
            format="multipart",
        )
        assert "limit" in assert_error(response, 413, "file_too_large")["message"]

    def test_missing_files_is_a_field_error(self, org_a, client_for, api_collection):
        response = client_for(org_a, "member").post(
            f"/api/v1/collections/{api_collection['id']}/documents", {}, format="multipart"
        )
        assert "files" in assert_error(response, 400)["fields"]

    def test_pasted_text_reprocess_and_delete(self, org_a, client_for, api_collection):
        member = client_for(org_a, "member")
        base = f"/api/v1/collections/{api_collection['id']}/documents"
        created = member.post(
            f"{base}/text", {"title": "Note", "text": "# Note\n\nHello there."}
        ).json()
        document_id = created["results"][0]["document"]["id"]
        process_pending(org_a)

        requeued = member.post(f"{base}/{document_id}/reprocess")
        assert requeued.status_code == 202 and requeued.json()["status"] == "pending"
        process_pending(org_a)
        assert member.get(f"{base}/{document_id}").json()["status"] == "completed"

        assert member.delete(f"{base}/{document_id}").status_code == 204
        with schema_context(org_a.slug):
            assert not DocumentChunk.objects.exists()
            assert Collection.objects.get().document_count == 0

    def test_another_organizations_documents_are_404(
        self, org_a, org_b, client_for, api_collection
    ):
        member = client_for(org_a, "member")
        base = f"/api/v1/collections/{api_collection['id']}/documents"
        created = member.post(f"{base}/text", {"title": "Secret", "text": "alpha secret"}).json()
        document_id = created["results"][0]["document"]["id"]
        other = client_for(org_b, "admin")
        assert_error(other.get(f"{base}/{document_id}"), 404)
        assert_error(other.get(base), 404)
        assert_error(other.delete(f"{base}/{document_id}"), 404)


@pytest.mark.django_db
class TestSearchAPI:
    def test_viewer_searches_and_gets_snippets(self, org_a, client_for, api_collection):
        client_for(org_a, "member").post(
            f"/api/v1/collections/{api_collection['id']}/documents/text",
            {"title": "FAQ", "text": "# Refunds\n\nRefunds are paid within five business days."},
        )
        process_pending(org_a)
        body = (
            client_for(org_a, "viewer")
            .post(
                "/api/v1/search",
                {"query": "refunds", "collections": [api_collection["id"]], "top_k": 3},
                format="json",
            )
            .json()
        )
        assert body["mode"] == "hybrid"
        [hit] = body["results"]
        assert (
            hit["document_title"] == "FAQ"
            and "<mark>" in hit["snippet"]
            and hit["section"] == "Refunds"
        )

    @pytest.mark.parametrize("top_k", [0, 101])
    def test_top_k_out_of_range(self, org_a, client_for, api_collection, top_k):
        response = client_for(org_a, "viewer").post(
            "/api/v1/search",
            {"query": "x", "collections": [api_collection["id"]], "top_k": top_k},
            format="json",
        )
        assert "top_k" in assert_error(response, 400)["fields"]

    def test_unknown_mode_and_empty_collections_are_field_errors(self, org_a, client_for):
        response = client_for(org_a, "viewer").post(
            "/api/v1/search", {"query": "x", "collections": [], "mode": "psychic"}, format="json"
        )
        assert {"collections", "mode"} <= set(assert_error(response, 400)["fields"])


@pytest.mark.django_db
def test_process_documents_command_reprocesses_a_collection(
    org_a, client_for, api_collection, capsys
):
    client_for(org_a, "member").post(
        f"/api/v1/collections/{api_collection['id']}/documents/text",
        {"title": "T", "text": "Some text."},
    )
    call_command("process_documents", organization=org_a.slug, collection=api_collection["id"])
    output = capsys.readouterr().out
    assert "1/1" in output and "1 completed" in output


class TestChunks:
    def test_a_documents_chunks_and_one_chunk_by_id(self, org_a, client_for, api_collection):
        member = client_for(org_a, "member")
        url = f"/api/v1/collections/{api_collection['id']}/documents"
        created = member.post(
            f"{url}/text", {"title": "Refunds", "text": "# Refunds\n\nPaid within five days."}
        ).json()["results"][0]
        process_pending(org_a)

        listed = client_for(org_a, "viewer").get(f"{url}/{created['document']['id']}/chunks")
        chunk = listed.json()["results"][0]
        one = client_for(org_a, "viewer").get(f"/api/v1/chunks/{chunk['id']}")

        assert listed.json()["count"] == 1
        assert one.status_code == 200
        assert one.json() == chunk
        assert "Paid within five days." in chunk["text"]
        assert chunk["document_title"] == "Refunds"
        assert chunk["collection_id"] == api_collection["id"]

    @pytest.mark.parametrize("chunk_id", ["abc", "99999999999999999999999", "0", "123456789"])
    def test_unknown_or_malformed_chunk_ids_are_404(self, org_a, client_for, chunk_id):
        assert_error(client_for(org_a, "viewer").get(f"/api/v1/chunks/{chunk_id}"), 404)


SECTIONED = (
    "# Pump\n\n"
    + " ".join(f"The pump step {i} is checked by the technician." for i in range(40))
    + "\n\n# Warranty\n\nThe zyxwarranty covers the pump motor for two years."
)


@pytest.fixture
def sectioned_collection(org_a, client_for):
    response = client_for(org_a, "member").post(
        "/api/v1/collections",
        {
            "name": "Manuals",
            "chunking": "parent_child",
            "chunk_size": 60,
            "chunk_overlap": 10,
            "parent_size": 250,
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()


@pytest.mark.django_db
class TestParentChildChunking:
    """ADR 0103: the chunking setting over HTTP, and parents in search and chunk results."""

    def test_the_setting_is_stored_and_shown(self, sectioned_collection, api_collection):
        assert sectioned_collection["chunking"] == "parent_child"
        assert sectioned_collection["parent_size"] == 250
        # a collection created without it gets the default
        assert api_collection["chunking"] == "parent_child"
        assert api_collection["parent_size"] == 1000

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"chunking": "tree"}, "chunking"),
            ({"chunking": "parent_child", "chunk_size": 300, "parent_size": 200}, "parent_size"),
            ({"parent_size": 50}, "parent_size"),
            ({"parent_size": 9000}, "parent_size"),
        ],
    )
    def test_bad_settings_are_field_errors_and_nothing_is_created(
        self, org_a, client_for, body, field
    ):
        response = client_for(org_a, "member").post(
            "/api/v1/collections", {"name": "x", **body}, format="json"
        )
        assert field in assert_error(response, 400)["fields"]
        with schema_context(org_a.slug):
            assert not Collection.objects.exists()

    def test_an_update_that_makes_parents_too_small_changes_nothing(
        self, org_a, client_for, sectioned_collection
    ):
        url = f"/api/v1/collections/{sectioned_collection['id']}"
        response = client_for(org_a, "member").patch(
            url, {"chunk_size": 400, "name": "Renamed"}, format="json"
        )
        assert "parent_size" in assert_error(response, 400)["fields"]
        unchanged = client_for(org_a, "viewer").get(url).json()
        assert (unchanged["name"], unchanged["chunk_size"]) == ("Manuals", 60)

        switched = client_for(org_a, "member").patch(url, {"chunking": "flat"}, format="json")
        assert switched.status_code == 200 and switched.json()["chunking"] == "flat"

    def test_search_returns_the_chunk_with_its_parent_section(
        self, org_a, client_for, sectioned_collection
    ):
        member = client_for(org_a, "member")
        flat = member.post(
            "/api/v1/collections", {"name": "Flat", "chunking": "flat"}, format="json"
        ).json()
        for collection in (sectioned_collection, flat):
            member.post(
                f"/api/v1/collections/{collection['id']}/documents/text",
                {"title": "Manual", "text": SECTIONED},
            )
        process_pending(org_a)

        def search(collection):
            return (
                client_for(org_a, "viewer")
                .post(
                    "/api/v1/search",
                    {"query": "zyxwarranty", "collections": [collection["id"]], "mode": "keyword"},
                    format="json",
                )
                .json()["results"]
            )

        [hit] = search(sectioned_collection)  # one child holds the word: the parent is no hit
        parent = hit["parent"]
        assert parent["section"] == "Warranty" and parent["page"] is None
        assert parent["text"][parent["child_start"] : parent["child_end"]] == hit["text"]
        assert "zyxwarranty" in parent["text"]
        one = client_for(org_a, "viewer").get(f"/api/v1/chunks/{hit['chunk_id']}").json()
        assert one["parent"] == parent  # what the citation opens
        [flat_hit] = search(flat)
        assert flat_hit["parent"] is None

    def test_another_organization_cannot_open_the_chunk(
        self, org_a, org_b, client_for, sectioned_collection
    ):
        client_for(org_a, "member").post(
            f"/api/v1/collections/{sectioned_collection['id']}/documents/text",
            {"title": "Manual", "text": SECTIONED},
        )
        process_pending(org_a)
        with schema_context(org_a.slug):
            chunk_id = DocumentChunk.objects.values_list("id", flat=True).first()
        assert_error(client_for(org_b, "admin").get(f"/api/v1/chunks/{chunk_id}"), 404)


@pytest.mark.django_db
def test_search_answer_is_what_the_output_serializer_gives(org_a, collection):
    import json

    from knowledge_base import retrieval
    from knowledge_base.api import serializers as s
    from knowledge_base.retrieval.rerank import RerankOutcome

    # given: hits with and without pages and reranker scores, and a reranking outcome
    hits = [
        retrieval.Hit(
            chunk_id=7, document_id="8f0e6a4c-0d39-4c41-a0a4-2a6c3b3c9b11", document_title="FAQ",
            collection_id=str(collection.id), text="Refunds are paid.", page=None, section="",
            score=0.0327, snippet="<mark>Refunds</mark> are paid.", vector_rank=1,
        ),
        retrieval.Hit(
            chunk_id=9, document_id="8f0e6a4c-0d39-4c41-a0a4-2a6c3b3c9b12", document_title="Guide",
            collection_id=str(collection.id), text="Page two.", page=2, section="Returns",
            score=1, page_end=3, rerank_score=0.91, snippet="Page two.",
            parent=retrieval.hits.ParentSection(
                id=4, text="Intro. Page two.", token_count=5, page=2, page_end=3,
                section="Returns", child_start=7, child_end=16,
            ),
        ),
    ]  # fmt: skip
    outcome = RerankOutcome(
        applied=True, reranker_id="8f0e6a4c-0d39-4c41-a0a4-2a6c3b3c9b13", candidates=30,
        latency_ms=12, skipped_reason="",
    )  # fmt: skip
    for rerank in (None, outcome):
        # when
        direct = s.search_output(mode="hybrid", hits=hits, rerank=rerank)
        drf = s.SearchOutputSerializer({"mode": "hybrid", "results": hits, "rerank": rerank}).data
        # then: the same JSON, byte for byte
        assert json.dumps(direct) == json.dumps(drf)
