from django.urls import path

from chat.api import views

urlpatterns = [
    path("chat", views.answering_view(views.ChatView), name="chat"),
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
        views.answering_view(views.RegenerateView),
        name="chat-regenerate",
    ),
    path(
        "chat/messages/<str:message_id>/edit",
        views.answering_view(views.EditView),
        name="chat-edit",
    ),
    path(
        "chat/messages/<str:message_id>/feedback",
        views.FeedbackView.as_view(),
        name="chat-feedback",
    ),
]
