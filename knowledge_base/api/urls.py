from django.urls import path

from knowledge_base.api import evaluation_views, views

urlpatterns = [
    path("collections", views.CollectionListView.as_view(), name="collection-list"),
    path(
        "collections/<str:collection_id>",
        views.CollectionDetailView.as_view(),
        name="collection-detail",
    ),
    path(
        "collections/<str:collection_id>/documents",
        views.DocumentListView.as_view(),
        name="document-list",
    ),
    path(
        "collections/<str:collection_id>/documents/text",
        views.DocumentTextView.as_view(),
        name="document-text",
    ),
    path(
        "collections/<str:collection_id>/documents/url",
        views.DocumentURLView.as_view(),
        name="document-url",
    ),
    path(
        "collections/<str:collection_id>/sitemaps",
        views.SitemapListView.as_view(),
        name="sitemap-list",
    ),
    path(
        "collections/<str:collection_id>/sitemaps/<str:sitemap_id>",
        views.SitemapDetailView.as_view(),
        name="sitemap-detail",
    ),
    path(
        "collections/<str:collection_id>/documents/<str:document_id>",
        views.DocumentDetailView.as_view(),
        name="document-detail",
    ),
    path(
        "collections/<str:collection_id>/documents/<str:document_id>/reprocess",
        views.DocumentReprocessView.as_view(),
        name="document-reprocess",
    ),
    path(
        "collections/<str:collection_id>/documents/<str:document_id>/chunks",
        views.DocumentChunkListView.as_view(),
        name="document-chunk-list",
    ),
    path(
        "collections/<str:collection_id>/evaluation/questions",
        evaluation_views.QuestionListView.as_view(),
        name="evaluation-question-list",
    ),
    path(
        "collections/<str:collection_id>/evaluation/questions/upload",
        evaluation_views.QuestionUploadView.as_view(),
        name="evaluation-question-upload",
    ),
    path(
        "collections/<str:collection_id>/evaluation/questions/draft",
        evaluation_views.QuestionDraftView.as_view(),
        name="evaluation-question-draft",
    ),
    path(
        "collections/<str:collection_id>/evaluation/questions/<str:question_id>",
        evaluation_views.QuestionDetailView.as_view(),
        name="evaluation-question-detail",
    ),
    path(
        "collections/<str:collection_id>/evaluation/runs",
        evaluation_views.RunListView.as_view(),
        name="evaluation-run-list",
    ),
    path(
        "collections/<str:collection_id>/evaluation/runs/<str:run_id>",
        evaluation_views.RunDetailView.as_view(),
        name="evaluation-run-detail",
    ),
    path("chunks/<str:chunk_id>", views.ChunkDetailView.as_view(), name="chunk-detail"),
    path("search", views.SearchView.as_view(), name="search"),
]
