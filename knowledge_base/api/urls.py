from django.urls import path

from knowledge_base.api import views

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
    path("chunks/<str:chunk_id>", views.ChunkDetailView.as_view(), name="chunk-detail"),
    path("search", views.SearchView.as_view(), name="search"),
]
