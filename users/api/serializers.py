from django.conf import settings
from rest_framework import serializers

from users.models import Invitation, Membership, Organization, Role, User
from users.validators import validate_organization_slug


class OrganizationOutputSerializer(serializers.ModelSerializer):
    slug = serializers.CharField(read_only=True)
    url = serializers.CharField(read_only=True)
    onboarding_dismissed = serializers.SerializerMethodField()

    class Meta:
        model = Organization
        fields = [
            "slug",
            "name",
            "plan",
            "url",
            "created_at",
            "require_two_factor",
            "onboarding_dismissed",
        ]

    def get_onboarding_dismissed(self, organization: Organization) -> bool:
        return organization.onboarding_dismissed_at is not None


class OrganizationSettingsSerializer(OrganizationOutputSerializer):
    """The organization as its admins see it: with who the two-factor rule would stop."""

    members_without_two_factor = serializers.IntegerField(
        help_text="Members with no authenticator app (admins only; null for others).",
        allow_null=True,
    )

    class Meta(OrganizationOutputSerializer.Meta):
        fields = [*OrganizationOutputSerializer.Meta.fields, "members_without_two_factor"]


class JSONBooleanField(serializers.BooleanField):
    """true or false only: DRF's BooleanField also takes 0, 1 and "yes", which the schema
    (``type: boolean``) does not allow."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class OrganizationUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120, min_length=1, required=False)
    require_two_factor = JSONBooleanField(
        required=False,
        help_text="Members must set up two-factor authentication to use the dashboard or "
        "the API with a session (API keys are unaffected). Needs your own first.",
    )
    onboarding_dismissed = JSONBooleanField(
        required=False, help_text="Hide the getting-started checklist."
    )


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
    two_factor_setup_required = serializers.BooleanField(
        help_text="The organization requires two-factor authentication and you have none "
        "yet: every other endpoint answers 403 two_factor_required until you set it up."
    )


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
