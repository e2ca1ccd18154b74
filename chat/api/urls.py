from django.urls import path

from chat.api import views

urlpatterns = [
    path("chat", views.ChatView.as_view(), name="chat"),
    path("chat/sessions", views.SessionListView.as_view(), name="chat-session-list"),
    path(
        "chat/sessions/<str:session_id>",
        views.SessionDetailView.as_view(),
        name="chat-session-detail",
    ),
    path(
        "chat/sessions/<str:session_id>/messages",
        views.SessionMessagesView.as_view(),
        name="chat-session-messages",
    ),
    path(
        "chat/sessions/<str:session_id>/export",
        views.SessionExportView.as_view(),
        name="chat-session-export",
    ),
    path(
        "chat/messages/<str:message_id>/regenerate",
        views.RegenerateView.as_view(),
        name="chat-regenerate",
    ),
    path("chat/messages/<str:message_id>/edit", views.EditView.as_view(), name="chat-edit"),
    path(
        "chat/messages/<str:message_id>/feedback",
        views.FeedbackView.as_view(),
        name="chat-feedback",
    ),
]
