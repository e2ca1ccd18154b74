"""Collections, documents and search: thin views over services and selectors."""

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from assistants import gateway
from assistants.catalog.models import AIModel
from assistants.providers.errors import ProviderError, as_domain_error
from audit.services import Actor
from billing.models import Channel
from core.access import Role, Scope
from core.api.parsers import JSONParser
from core.api.views import OrganizationAPIView, OrganizationGenericAPIView
from knowledge_base import retrieval, selectors, services, web_sources
from knowledge_base.api import serializers as s
from knowledge_base.models import DocumentStatus

DEFAULT_EMBEDDING_MODEL = ("local", "all-minilm-l6-v2")


class CollectionListView(mixins.ListModelMixin, OrganizationGenericAPIView):
    api_scope = "knowledge"
    serializer_class = s.CollectionOutputSerializer

    def get_queryset(self):
        return selectors.collection_list(search=self.request.query_params.get("search", ""))

    @extend_schema(operation_id="collections_list", parameters=[OpenApiParameter("search", str)])
    def get(self, request):
        return self.list(request)

    @extend_schema(
        request=s.CollectionInputSerializer, responses={201: s.CollectionOutputSerializer}
    )
    def post(self, request):
        data = s.CollectionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        if "embedding_model" not in fields:
            provider, model_id = DEFAULT_EMBEDDING_MODEL
            fields["embedding_model"] = AIModel.objects.get(provider=provider, model_id=model_id)
        collection = services.collection_create(
            user=request.user, actor=Actor.from_request(request), **fields
        )
        return Response(s.CollectionOutputSerializer(collection).data, status=201)


class CollectionDetailView(OrganizationAPIView):
    api_scope = "knowledge"

    def _get(self, collection_id):
        return selectors.collection_get(collection_id=collection_id)

    @extend_schema(responses=s.CollectionOutputSerializer)
    def get(self, request, collection_id):
        return Response(s.CollectionOutputSerializer(self._get(collection_id)).data)

    @extend_schema(request=s.CollectionUpdateSerializer, responses=s.CollectionOutputSerializer)
    def patch(self, request, collection_id):
        collection = self._get(collection_id)
        data = s.CollectionUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        collection = services.collection_update(
            collection=collection, actor=Actor.from_request(request), **data.validated_data
        )
        return Response(s.CollectionOutputSerializer(collection).data)

    @extend_schema(responses={204: None})
    def delete(self, request, collection_id):
        services.collection_delete(
            collection=self._get(collection_id), actor=Actor.from_request(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


def _upload_results(outcomes) -> list[dict]:
    return [
        {
            "name": o.name,
            "status": "duplicate" if o.duplicate_of else "created",
            "document": o.document,
            "duplicate_of": o.duplicate_of.id if o.duplicate_of else None,
        }
        for o in outcomes
    ]


class DocumentListView(mixins.ListModelMixin, OrganizationGenericAPIView):
    api_scope = "knowledge"
    serializer_class = s.DocumentOutputSerializer
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    def get_queryset(self):
        collection = selectors.collection_get(collection_id=self.kwargs["collection_id"])
        status_filter = self.request.query_params.get("status") or None
        return selectors.document_list(collection=collection, status=status_filter)

    @extend_schema(
        operation_id="documents_list",
        parameters=[OpenApiParameter("status", enum=DocumentStatus.values)],
    )
    def get(self, request, collection_id):
        return self.list(request)

    @extend_schema(
        request={"multipart/form-data": s.DocumentUploadSerializer},
        responses={201: s.UploadResponseSerializer, 200: s.UploadResponseSerializer},
        description=(
            "Upload one or more files (PDF, DOCX, HTML, Markdown, text, CSV, JSON). Types are "
            "checked by content; 413 above the size limit, 415 for other types; nothing is "
            "stored unless every file is acceptable. Files already in the collection are "
            'reported with status "duplicate".'
        ),
    )
    def post(self, request, collection_id):
        collection = selectors.collection_get(collection_id=collection_id)
        data = s.DocumentUploadSerializer(data={"files": request.FILES.getlist("files")})
        data.is_valid(raise_exception=True)
        limit = settings.KNOWLEDGE_MAX_UPLOAD_BYTES
        for upload in data.validated_data["files"]:
            # Refuse before reading a huge file into memory.
            if upload.size > limit:
                raise services.PayloadTooLarge(
                    f"{upload.name} is {upload.size:,} bytes; the limit is {limit:,} bytes."
                )
        uploads = [services.Upload(f.name, f.read()) for f in data.validated_data["files"]]
        outcomes = services.documents_upload(
            collection=collection,
            uploads=uploads,
            user=request.user,
            max_bytes=limit,
            actor=Actor.from_request(request),
        )
        created = any(o.document for o in outcomes)
        body = s.UploadResponseSerializer({"results": _upload_results(outcomes)}).data
        return Response(body, status=201 if created else 200)


class DocumentTextView(OrganizationAPIView):
    api_scope = "knowledge"

    @extend_schema(request=s.DocumentTextSerializer, responses={201: s.UploadResponseSerializer})
    def post(self, request, collection_id):
        collection = selectors.collection_get(collection_id=collection_id)
        data = s.DocumentTextSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        outcome = services.document_create_text(
            collection=collection,
            user=request.user,
            actor=Actor.from_request(request),
            **data.validated_data,
        )
        body = s.UploadResponseSerializer({"results": _upload_results([outcome])}).data
        return Response(body, status=201 if outcome.document else 200)


class DocumentURLView(OrganizationAPIView):
    api_scope = "knowledge"

    @extend_schema(
        request=s.DocumentURLSerializer,
        responses={201: s.UploadResponseSerializer, 200: s.UploadResponseSerializer},
        description=(
            "Add a web page: stored at once (pending), then fetched through the outbound "
            "policy (robots.txt respected), its main content extracted and ingested, and "
            "fetched again every `refresh_minutes` (changes re-ingested; a page answering "
            "404/410 is deleted). A URL the policy refuses (private or loopback address, "
            "a scheme other than http/https) is a field error. A page already in the "
            'collection is reported with status "duplicate".'
        ),
    )
    def post(self, request, collection_id):
        collection = selectors.collection_get(collection_id=collection_id)
        data = s.DocumentURLSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        outcome = web_sources.document_add_url(
            collection=collection, actor=Actor.from_request(request), **data.validated_data
        )
        body = s.UploadResponseSerializer({"results": _upload_results([outcome])}).data
        return Response(body, status=201 if outcome.document else 200)


class SitemapListView(mixins.ListModelMixin, OrganizationGenericAPIView):
    api_scope = "knowledge"
    serializer_class = s.SitemapOutputSerializer

    def get_queryset(self):
        collection = selectors.collection_get(collection_id=self.kwargs["collection_id"])
        return selectors.sitemap_list(collection=collection)

    @extend_schema(operation_id="sitemaps_list")
    def get(self, request, collection_id):
        return self.list(request)

    @extend_schema(
        request=s.SitemapInputSerializer,
        responses={201: s.SitemapOutputSerializer},
        description=(
            "Add a sitemap (or sitemap index): its pages (same site, at most "
            "KNOWLEDGE_SITEMAP_MAX_URLS) become URL documents; each fetch of the sitemap "
            "adds new pages and deletes the pages that left it."
        ),
    )
    def post(self, request, collection_id):
        collection = selectors.collection_get(collection_id=collection_id)
        data = s.SitemapInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        sitemap = web_sources.sitemap_add(
            collection=collection, actor=Actor.from_request(request), **data.validated_data
        )
        return Response(s.SitemapOutputSerializer(sitemap).data, status=201)


class SitemapDetailView(OrganizationAPIView):
    api_scope = "knowledge"

    def _get(self, collection_id, sitemap_id):
        collection = selectors.collection_get(collection_id=collection_id)
        return selectors.sitemap_get(collection=collection, sitemap_id=sitemap_id)

    @extend_schema(responses=s.SitemapOutputSerializer)
    def get(self, request, collection_id, sitemap_id):
        return Response(s.SitemapOutputSerializer(self._get(collection_id, sitemap_id)).data)

    @extend_schema(responses={204: None}, description="The sitemap and the pages it brought.")
    def delete(self, request, collection_id, sitemap_id):
        web_sources.sitemap_delete(
            sitemap=self._get(collection_id, sitemap_id), actor=Actor.from_request(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


def _document(collection_id, document_id):
    collection = selectors.collection_get(collection_id=collection_id)
    return selectors.document_get(collection=collection, document_id=document_id)


class DocumentDetailView(OrganizationAPIView):
    api_scope = "knowledge"

    @extend_schema(responses=s.DocumentOutputSerializer)
    def get(self, request, collection_id, document_id):
        return Response(s.DocumentOutputSerializer(_document(collection_id, document_id)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, collection_id, document_id):
        services.document_delete(
            document=_document(collection_id, document_id), actor=Actor.from_request(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class DocumentChunkListView(mixins.ListModelMixin, OrganizationGenericAPIView):
    """The document's passages in order: what retrieval searches and answers cite."""

    api_scope = "knowledge"
    serializer_class = s.ChunkOutputSerializer

    def get_queryset(self):
        document = _document(self.kwargs["collection_id"], self.kwargs["document_id"])
        return selectors.chunk_list(document=document).select_related("document", "parent")

    @extend_schema(operation_id="document_chunks_list")
    def get(self, request, collection_id, document_id):
        return self.list(request)


class ChunkDetailView(OrganizationAPIView):
    """One passage by id, e.g. the chunk a citation ``[n]`` of an answer points at."""

    api_scope = "knowledge"

    @extend_schema(responses=s.ChunkOutputSerializer)
    def get(self, request, chunk_id):
        return Response(s.ChunkOutputSerializer(selectors.chunk_get(chunk_id=chunk_id)).data)


class DocumentReprocessView(OrganizationAPIView):
    api_scope = "knowledge"

    @extend_schema(request=None, responses={202: s.DocumentOutputSerializer})
    def post(self, request, collection_id, document_id):
        document = services.document_reprocess(
            document=_document(collection_id, document_id), actor=Actor.from_request(request)
        )
        return Response(s.DocumentOutputSerializer(document).data, status=202)


class SearchView(OrganizationAPIView):
    """Hit testing: what the assistants would retrieve for a query."""

    # A search reads: viewers may search, although it is a POST.
    required_roles = {"POST": Role.VIEWER}
    api_scopes = {"POST": Scope.KNOWLEDGE_READ}  # a search reads

    @extend_schema(request=s.SearchInputSerializer, responses=s.SearchOutputSerializer)
    def post(self, request):
        data = s.SearchInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        params = retrieval.SearchParams(
            query=values["query"],
            collections=selectors.collections_by_ids(ids=values["collections"]),
            mode=retrieval.SearchMode(values["mode"]),
            top_k=values["top_k"],
            filters=retrieval.SearchFilters(
                documents=values.get("documents", []), metadata=values.get("metadata", {})
            ),
            vector_weight=values["vector_weight"],
            keyword_weight=values["keyword_weight"],
            collapse=values["collapse"] == "document",
            rerank=retrieval.Rerank(values["reranker"], values["rerank_candidates"])
            if values["reranker"] is not None
            else None,
        )
        try:
            result = retrieval.search_with_outcome(
                params,
                organization=self.organization,
                usage=gateway.UsageContext(
                    organization=self.organization,
                    user=request.user,
                    channel=Channel.API if self.api_key else Channel.WEB,
                ),
            )
        except ProviderError as error:
            raise as_domain_error(error) from error
        return Response(
            s.search_output(mode=params.mode.value, hits=result.hits, rerank=result.rerank)
        )
