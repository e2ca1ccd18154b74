"""The home page's getting-started checklist (chat.onboarding)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from chat.onboarding import onboarding_checklist
from core.access import Role, Scope
from core.api.views import OrganizationAPIView


class StepSerializer(serializers.Serializer):
    key = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    link = serializers.CharField(help_text="The dashboard page where the step is done.")
    done = serializers.BooleanField()


class OnboardingSerializer(serializers.Serializer):
    steps = StepSerializer(many=True)
    completed = serializers.IntegerField()
    total = serializers.IntegerField()
    dismissed = serializers.BooleanField(
        help_text="An admin hid the checklist (PATCH /api/v1/organization)."
    )


class OnboardingView(OrganizationAPIView):
    # Inviting and provider keys are admins' steps: the checklist is theirs.
    required_roles = {"GET": Role.ADMIN}
    api_scopes = {"GET": Scope.ADMIN}

    @extend_schema(responses=OnboardingSerializer, operation_id="onboarding_retrieve")
    def get(self, request):
        steps = onboarding_checklist(organization=self.organization)
        data = {
            "steps": steps,
            "completed": sum(step.done for step in steps),
            "total": len(steps),
            "dismissed": self.organization.onboarding_dismissed_at is not None,
        }
        return Response(OnboardingSerializer(data).data)
