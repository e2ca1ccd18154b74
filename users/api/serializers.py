from django.conf import settings
from rest_framework import serializers

from users.models import Invitation, Membership, Organization, Role, User
from users.validators import validate_organization_slug


class OrganizationOutputSerializer(serializers.ModelSerializer):
    slug = serializers.CharField(read_only=True)
    url = serializers.CharField(read_only=True)

    class Meta:
        model = Organization
        fields = ["slug", "name", "plan", "url", "created_at"]


class OrganizationUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120, min_length=1)


class UserOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "name"]


class MyOrganizationSerializer(serializers.Serializer):
    slug = serializers.CharField(source="organization.slug")
    name = serializers.CharField(source="organization.name")
    url = serializers.CharField(source="organization.url")
    role = serializers.ChoiceField(choices=Role.choices)


class MeOutputSerializer(serializers.Serializer):
    user = UserOutputSerializer()
    organization = OrganizationOutputSerializer()
    role = serializers.ChoiceField(choices=Role.choices)
    organizations = MyOrganizationSerializer(many=True)


class MembershipOutputSerializer(serializers.ModelSerializer):
    user = UserOutputSerializer(read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "user", "role", "created_at"]


class MembershipUpdateSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class InvitationOutputSerializer(serializers.ModelSerializer):
    status = serializers.CharField(read_only=True)
    invited_by = UserOutputSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "status", "invited_by", "created_at", "expires_at"]


class InvitationCreateSerializer(serializers.Serializer):
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=Role.choices, default=Role.MEMBER)


class InvitationAcceptSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=200)
    password = serializers.CharField(
        required=False,
        write_only=True,
        max_length=128,
        style={"input_type": "password"},
        help_text="Only when accepting without an account: the new account's password.",
    )
    name = serializers.CharField(required=False, max_length=150, default="")


class SignupInputSerializer(serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(write_only=True, min_length=8, max_length=128)
    name = serializers.CharField(required=False, max_length=150, default="")
    organization_name = serializers.CharField(max_length=120)
    slug = serializers.CharField(
        max_length=40,
        help_text=f"Lowercase letters and digits; becomes <slug>.{settings.BASE_DOMAIN}.",
    )

    def validate_slug(self, value: str) -> str:
        from django.core.exceptions import ValidationError

        try:
            validate_organization_slug(value)
        except ValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc
        return value


class SignupOutputSerializer(serializers.Serializer):
    user = UserOutputSerializer()
    organization = OrganizationOutputSerializer()
    redirect_url = serializers.CharField()
    email_verification_required = serializers.BooleanField()
