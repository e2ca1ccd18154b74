from django.urls import path

from prompts.api import views

urlpatterns = [
    path("prompts", views.TemplateListView.as_view(), name="prompt-list"),
    path("prompts/import", views.TemplateImportView.as_view(), name="prompt-import"),
    path("prompts/<str:template_id>", views.TemplateDetailView.as_view(), name="prompt-detail"),
    path(
        "prompts/<str:template_id>/versions",
        views.VersionListView.as_view(),
        name="prompt-version-list",
    ),
    path(
        "prompts/<str:template_id>/versions/<str:number>",
        views.VersionDetailView.as_view(),
        name="prompt-version-detail",
    ),
    path(
        "prompts/<str:template_id>/versions/<str:number>/publish",
        views.VersionPublishView.as_view(),
        name="prompt-version-publish",
    ),
    path("prompts/<str:template_id>/render", views.RenderView.as_view(), name="prompt-render"),
    path("prompts/<str:template_id>/diff", views.DiffView.as_view(), name="prompt-diff"),
    path("prompts/<str:template_id>/export", views.ExportView.as_view(), name="prompt-export"),
    path("prompt-preview", views.PreviewView.as_view(), name="prompt-preview"),
]
