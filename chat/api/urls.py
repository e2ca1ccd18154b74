from django.urls import path

from chat.api import conversation_views, feedback_views, onboarding_views, views

urlpatterns = [
    path("chat", views.answering_view(views.ChatView), name="chat"),
    path("chat/sessions", views.SessionListView.as_view(), name="chat-session-list"),
    # An assistant's "Test reply" is a chat turn without a conversation: served by chat.
    path(
        "assistants/<str:assistant_id>/test",
        views.AssistantTestView.as_view(),
        name="assistant-test",
    ),
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
    path("feedback", feedback_views.FeedbackListView.as_view(), name="feedback-list"),
    path("onboarding", onboarding_views.OnboardingView.as_view(), name="onboarding"),
]

# Conversation intelligence (chat/conversations/, docs/conversations.md).
urlpatterns += [
    path(
        "conversations/imports",
        conversation_views.ImportListView.as_view(),
        name="conversation-import-list",
    ),
    path(
        "conversations/imports/<str:import_id>",
        conversation_views.ImportDetailView.as_view(),
        name="conversation-import-detail",
    ),
    path(
        "conversations/imports/<str:import_id>/estimate",
        conversation_views.ImportEstimateView.as_view(),
        name="conversation-import-estimate",
    ),
    path(
        "conversations/search", conversation_views.SearchView.as_view(), name="conversation-search"
    ),
    path(
        "conversations/ask",
        conversation_views.ask_view(conversation_views.AskView),
        name="conversation-ask",
    ),
    path(
        "conversations/settings",
        conversation_views.SettingsView.as_view(),
        name="conversation-settings",
    ),
    path(
        "conversations/bookmarks",
        conversation_views.BookmarkListView.as_view(),
        name="conversation-bookmark-list",
    ),
    path(
        "conversations/messages/<str:message_id>/bookmark",
        conversation_views.BookmarkView.as_view(),
        name="conversation-bookmark",
    ),
    path(
        "conversations/messages/<str:message_id>/reactions",
        conversation_views.ReactionListView.as_view(),
        name="conversation-reactions",
    ),
    path(
        "conversations/messages/<str:message_id>/reactions/<str:reaction_id>",
        conversation_views.ReactionDetailView.as_view(),
        name="conversation-reaction-detail",
    ),
    path(
        "chat/sessions/<str:session_id>/analysis",
        conversation_views.AnalysisView.as_view(),
        name="conversation-analysis",
    ),
    path(
        "chat/sessions/<str:session_id>/end",
        conversation_views.EndView.as_view(),
        name="conversation-end",
    ),
    path(
        "chat/sessions/<str:session_id>/continue",
        conversation_views.ContinueView.as_view(),
        name="conversation-continue",
    ),
    path(
        "conversations/insights",
        conversation_views.InsightsView.as_view(),
        name="conversation-insights",
    ),
]
