"""Organization, members and invitations: thin views over users.services."""

from django.contrib.auth import login
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle

from audit.services import Actor, client_ip
from core.access import Role, Scope
from core.api.errors import APIError
from core.api.views import (
    ANY_SCOPE,
    OrganizationAPIView,
    OrganizationGenericAPIView,
    PublicAPIView,
)
from core.lookups import person
from users import selectors, services
from users.api import serializers as s


class MeView(OrganizationAPIView):
    api_keys_allowed = False  # about a person; a key has no "me"
    two_factor_exempt = True  # tells the dashboard to send them to the set-up

    @extend_schema(responses=s.MeOutputSerializer, operation_id="me_retrieve")
    def get(self, request):
        data = selectors.me_summary(
            user=request.user,
            organization=self.organization,
            role=self.membership.role,
            organizations=selectors.organization_list_for_user(user=request.user),
        )
        return Response(s.MeOutputSerializer(data).data)


class OrganizationView(OrganizationAPIView):
    required_roles = {"PATCH": Role.ADMIN}
    api_scopes = {"GET": ANY_SCOPE, "PATCH": Scope.ADMIN}

    def _output(self, organization):
        organization.members_without_two_factor = (
            selectors.members_without_two_factor_count(organization=organization)
            if self.caller.is_admin
            else None
        )
        return Response(s.OrganizationSettingsSerializer(organization).data)

    @extend_schema(responses=s.OrganizationSettingsSerializer)
    def get(self, request):
        return self._output(self.organization)

    @extend_schema(
        request=s.OrganizationUpdateSerializer, responses=s.OrganizationSettingsSerializer
    )
    def patch(self, request):
        data = s.OrganizationUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        organization = services.organization_update(
            organization=self.organization,
            actor=Actor.from_request(request),
            **data.validated_data,
        )
        return self._output(organization)


class MemberListView(mixins.ListModelMixin, OrganizationGenericAPIView):
    api_scopes = {"GET": Scope.ADMIN}
    serializer_class = s.MembershipOutputSerializer

    def get_queryset(self):
        return selectors.membership_list(organization=self.organization)

    @extend_schema(operation_id="members_list")
    def get(self, request):
        return self.list(request)


class MemberDetailView(OrganizationAPIView):
    required_roles = {"PATCH": Role.ADMIN, "DELETE": Role.ADMIN}
    api_scope = Scope.ADMIN

    def _get(self, member_id):
        return selectors.membership_get(organization=self.organization, membership_id=member_id)

    @extend_schema(responses=s.MembershipOutputSerializer)
    def get(self, request, member_id):
        return Response(s.MembershipOutputSerializer(self._get(member_id)).data)

    @extend_schema(request=s.MembershipUpdateSerializer, responses=s.MembershipOutputSerializer)
    def patch(self, request, member_id):
        membership = self._get(member_id)
        data = s.MembershipUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.membership_change_role(
            membership=membership, actor=Actor.from_request(request), **data.validated_data
        )
        return Response(s.MembershipOutputSerializer(membership).data)

    @extend_schema(responses={204: None})
    def delete(self, request, member_id):
        services.membership_remove(
            membership=self._get(member_id), actor=Actor.from_request(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationListView(mixins.ListModelMixin, OrganizationGenericAPIView):
    # Invitations reveal who is being invited: admins only, reads included.
    required_roles = {"GET": Role.ADMIN, "POST": Role.ADMIN}
    api_scope = Scope.ADMIN
    serializer_class = s.InvitationOutputSerializer

    def get_queryset(self):
        return selectors.invitation_list(organization=self.organization)

    @extend_schema(operation_id="invitations_list")
    def get(self, request):
        return self.list(request)

    @extend_schema(
        request=s.InvitationCreateSerializer, responses={201: s.InvitationOutputSerializer}
    )
    def post(self, request):
        data = s.InvitationCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        invitation, _token = services.invitation_create(
            organization=self.organization,
            invited_by=person(request.user),
            actor=Actor.from_request(request),
            **data.validated_data,
        )
        return Response(s.InvitationOutputSerializer(invitation).data, status=201)


class InvitationDetailView(OrganizationAPIView):
    required_roles = {"GET": Role.ADMIN, "DELETE": Role.ADMIN}
    api_scope = Scope.ADMIN

    def _get(self, invitation_id):
        return selectors.invitation_get(organization=self.organization, invitation_id=invitation_id)

    @extend_schema(responses=s.InvitationOutputSerializer)
    def get(self, request, invitation_id):
        return Response(s.InvitationOutputSerializer(self._get(invitation_id)).data)

    @extend_schema(responses={204: None}, operation_id="invitations_revoke")
    def delete(self, request, invitation_id):
        services.invitation_revoke(
            invitation=self._get(invitation_id), actor=Actor.from_request(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationAcceptView(PublicAPIView):
    """Accept with a token: members-to-be are not members yet, and may have no account.

    Deliberately outside OrganizationAPIView; the token is the credential.
    """

    # Session auth is kept so a logged-in invitee joins with their account.
    authentication_classes = OrganizationAPIView.authentication_classes
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "signup"

    @extend_schema(
        request=s.InvitationAcceptSerializer, responses={201: s.MembershipOutputSerializer}
    )
    def post(self, request):
        organization = getattr(request, "tenant", None)
        if organization is None or organization.is_public:
            raise APIError("Accept invitations on the organization's host.", status_code=404)
        if request.user.is_authenticated and person(request.user) is None:
            # An API key is a program, not a person: it cannot become a member.
            raise APIError(
                "Invitations are accepted by a person, not with an API key.",
                status_code=403,
                code="permission_denied",
            )
        data = s.InvitationAcceptSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = request.user if request.user.is_authenticated else None
        membership = services.invitation_accept(
            organization=organization,
            user=user,
            ip_address=client_ip(request),
            **data.validated_data,
        )
        if user is None:
            login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
        return Response(s.MembershipOutputSerializer(membership).data, status=201)


class SignupView(PublicAPIView):
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "signup"

    @extend_schema(request=s.SignupInputSerializer, responses={201: s.SignupOutputSerializer})
    def post(self, request):
        data = s.SignupInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.signup(request=request, **data.validated_data)
        output = {
            "user": result.user,
            "organization": result.organization,
            "redirect_url": result.redirect_url,
            "email_verification_required": result.email_verification_required,
        }
        return Response(s.SignupOutputSerializer(output).data, status=201)
