"""Usage (from the ledger) and the plan's quotas, for admins and usage:read keys."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from billing import quotas, selectors
from billing.api import serializers as s
from billing.plans import plan_for
from core.access import Role, Scope
from core.api.pagination import PageNumberPagination
from core.api.views import OrganizationAPIView


class UsagePagination(PageNumberPagination):
    max_page_size = 400  # a year of days in one page, for charts


class UsageView(OrganizationAPIView):
    """Tokens and cost between two days, grouped by day, model, assistant, API key,
    channel, kind or user; with the range's totals."""

    required_roles = {"GET": Role.ADMIN}
    api_scopes = {"GET": Scope.USAGE_READ}

    @extend_schema(
        parameters=[
            s.UsageQuerySerializer,
            OpenApiParameter("page", int),
            OpenApiParameter("page_size", int, description="Rows per page, at most 400."),
        ],
        responses=inline_serializer(
            "UsageReport",
            {
                "start": serializers.DateField(),
                "end": serializers.DateField(),
                "group_by": serializers.CharField(),
                "totals": s.UsageFiguresSerializer(),
                "count": serializers.IntegerField(),
                "next": serializers.URLField(allow_null=True),
                "previous": serializers.URLField(allow_null=True),
                "results": s.UsageRowSerializer(many=True),
            },
        ),
    )
    def get(self, request):
        query = s.UsageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        start, end, group_by = (query.validated_data[k] for k in ("start", "end", "group_by"))
        rows = selectors.usage_breakdown(
            organization=self.organization, start=start, end=end, group_by=group_by
        )
        paginator = UsagePagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        response = paginator.get_paginated_response(s.UsageRowSerializer(page, many=True).data)
        totals = selectors.usage_totals(organization=self.organization, start=start, end=end)
        response.data = {
            "start": start,
            "end": end,
            "group_by": group_by,
            "totals": s.UsageFiguresSerializer(totals).data,
            **response.data,
        }
        return response


class QuotasView(OrganizationAPIView):
    """The plan, and how much of each monthly quota this month used."""

    api_scopes = {"GET": Scope.USAGE_READ}

    @extend_schema(responses=s.QuotasSerializer)
    def get(self, request):
        plan = plan_for(self.organization)
        data = {
            "plan": {"code": plan.code, "name": plan.name},
            "period_start": quotas.month_start(),
            "period_end": quotas.next_month_start(),
            "quotas": [
                {"name": q.name, "limit": q.limit, "used": q.used, "remaining": q.remaining}
                for q in quotas.quota_status(self.organization)
            ],
        }
        return Response(s.QuotasSerializer(data).data)
