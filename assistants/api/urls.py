from django.urls import path

from assistants.api import views

urlpatterns = [
    path("models", views.ModelListView.as_view(), name="model-list"),
    path("assistants", views.AssistantListView.as_view(), name="assistant-list"),
    path(
        "assistants/<str:assistant_id>",
        views.AssistantDetailView.as_view(),
        name="assistant-detail",
    ),
    path("credentials", views.CredentialListView.as_view(), name="credential-list"),
    path(
        "credentials/<str:credential_id>",
        views.CredentialDetailView.as_view(),
        name="credential-detail",
    ),
    path(
        "credentials/<str:credential_id>/test",
        views.CredentialTestView.as_view(),
        name="credential-test",
    ),
    path("rerankers", views.RerankerListView.as_view(), name="reranker-list"),
    path(
        "rerankers/<str:reranker_id>",
        views.RerankerDetailView.as_view(),
        name="reranker-detail",
    ),
]
