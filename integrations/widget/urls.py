"""The visitor's side of the widget (organization hosts): the loader and its API."""

from django.urls import path

from integrations.extension import extension_download
from integrations.widget import views

urlpatterns = [
    path("widget.js", views.widget_script, name="widget-script"),
    path("api/v1/widget/<str:public_id>/config", views.WidgetConfigView.as_view()),
    path("api/v1/widget/<str:public_id>/messages", views.WidgetMessagesView.as_view()),
    path("api/v1/widget/<str:public_id>/chat", views.widget_chat, name="widget-chat"),
    path("api/v1/widget/<str:public_id>/feedback", views.WidgetFeedbackView.as_view()),
    path("api/v1/widget/<str:public_id>/files", views.WidgetFileView.as_view()),
    # The browser extension's zip (integrations/extension.py).
    path("downloads/browser-extension.zip", extension_download, name="extension-download"),
]
