"""Server-side redirects of an organization's host; its pages are the app (frontend/)."""

from django.urls import path

from users import views

urlpatterns = [
    path("handoff/<str:token>/", views.handoff, name="handoff"),
    path("switch/<str:slug>/", views.switch_organization, name="switch-organization"),
]
