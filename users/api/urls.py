from django.urls import path

from users.api import views

urlpatterns = [
    path("me", views.MeView.as_view(), name="me"),
    path("organization", views.OrganizationView.as_view(), name="organization"),
    path("members", views.MemberListView.as_view(), name="member-list"),
    path("members/<str:member_id>", views.MemberDetailView.as_view(), name="member-detail"),
    path("invitations", views.InvitationListView.as_view(), name="invitation-list"),
    path("invitations/accept", views.InvitationAcceptView.as_view(), name="invitation-accept"),
    path(
        "invitations/<str:invitation_id>",
        views.InvitationDetailView.as_view(),
        name="invitation-detail",
    ),
]
