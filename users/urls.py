from django.urls import path

from users import views

urlpatterns = [
    path("", views.home, name="home"),
    path("handoff/<str:token>/", views.handoff, name="handoff"),
    path("switch/<str:slug>/", views.switch_organization, name="switch-organization"),
    path("invitations/accept/", views.invitation_accept_page, name="invitation-accept-page"),
]
