"""Server-side redirects of the public site; its pages are the app (frontend/)."""

from django.urls import path

from users import views

urlpatterns = [
    path("switch/", views.switch_organization, name="switch-first-organization"),
    path("switch/<str:slug>/", views.switch_organization, name="public-switch-organization"),
]
