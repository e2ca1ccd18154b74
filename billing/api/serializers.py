from datetime import timedelta

from django.utils import timezone
from rest_framework import serializers

from billing.selectors import GROUPS
from core.api.query import QuerySerializer

MAX_RANGE_DAYS = 366


class UsageQuerySerializer(QuerySerializer):
    start = serializers.DateField(
        required=False, help_text="First day (UTC). Default: 29 days ago."
    )
    end = serializers.DateField(
        required=False, help_text="Last day (UTC), included. Default: today."
    )
    group_by = serializers.ChoiceField(choices=GROUPS, default="day")

    def validate(self, attrs):
        today = timezone.now().date()
        attrs.setdefault("end", today)
        attrs.setdefault("start", attrs["end"] - timedelta(days=29))
        if attrs["start"] > attrs["end"]:
            raise serializers.ValidationError({"start": ["The start is after the end."]})
        if (attrs["end"] - attrs["start"]).days >= MAX_RANGE_DAYS:
            raise serializers.ValidationError(
                {"start": [f"Ask for at most {MAX_RANGE_DAYS} days at a time."]}
            )
        return attrs


class UsageFiguresSerializer(serializers.Serializer):
    calls = serializers.IntegerField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=14, decimal_places=6)


class UsageRowSerializer(UsageFiguresSerializer):
    key = serializers.CharField()
    label = serializers.CharField()


class PlanSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


class QuotaSerializer(serializers.Serializer):
    name = serializers.CharField()
    limit = serializers.DecimalField(
        max_digits=20, decimal_places=2, allow_null=True, coerce_to_string=False
    )
    used = serializers.DecimalField(max_digits=20, decimal_places=6, coerce_to_string=False)
    remaining = serializers.DecimalField(
        max_digits=20, decimal_places=6, allow_null=True, coerce_to_string=False
    )


class QuotasSerializer(serializers.Serializer):
    plan = PlanSerializer()
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    quotas = QuotaSerializer(many=True)
