"""The Billing page's API: the plan for everyone, the account for admins, and the
ways to pay (Checkout, Customer Portal, plan change), for admins in person."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response

from billing import checkout
from billing.api import billing_serializers as s
from billing.invoices import invoice_list
from billing.metering import running_bill
from billing.models import Plan, StripeCustomer
from billing.plans import plan_for
from billing.stripe_client import stripe_configured
from billing.subscriptions import billing_state, current_subscription
from core.access import Role, Scope
from core.api.pagination import PageNumberPagination
from core.api.views import OrganizationAPIView
from users.models import Organization

PAGE_PARAMETERS = [OpenApiParameter("page", int), OpenApiParameter("page_size", int)]


class CurrentPlanView(OrganizationAPIView):
    """The organization's plan (every member)."""

    api_scopes = {"GET": Scope.USAGE_READ}

    @extend_schema(responses=s.CurrentPlanSerializer)
    def get(self, request):
        plan = plan_for(self.organization)
        return Response(s.CurrentPlanSerializer({"code": plan.code, "name": plan.name}).data)


class PlanOffersView(OrganizationAPIView):
    """The plans, with their prices and what they include."""

    api_scopes = {"GET": Scope.USAGE_READ}

    @extend_schema(
        parameters=PAGE_PARAMETERS, responses=s.paginated("PlanOfferPage", s.PlanOfferSerializer)
    )
    def get(self, request):
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(Plan.objects.order_by("code"), request, view=self)
        return paginator.get_paginated_response(s.PlanOfferSerializer(page, many=True).data)


class BillingAccountView(OrganizationAPIView):
    """Admins: the subscription, its state (grace banner), the running bill."""

    required_roles = {"GET": Role.ADMIN}
    api_scopes = {"GET": Scope.USAGE_READ}

    @extend_schema(responses=s.BillingAccountSerializer)
    def get(self, request):
        # The webhook writes the subscription and the organization's plan in one
        # transaction, but the request's organization was loaded before this read:
        # read the plan again *after* the subscription, so a page that sees the new
        # subscription also sees the plan it gave (never "Active" on the old plan).
        subscription = current_subscription(self.organization)
        organization = Organization.objects.get(pk=self.organization.pk)
        plan = plan_for(organization)
        state = billing_state(organization, subscription)
        bill = None
        if subscription is not None and state.state in ("ok", "grace", "canceling"):
            bill = running_bill(organization=organization, subscription=subscription)
        data = {
            "plan": {"code": plan.code, "name": plan.name},
            "state": state.state,
            "grace_ends_at": state.grace_ends_at,
            "has_billing_account": StripeCustomer.objects.filter(
                organization=organization, deleted_at=None
            ).exists(),
            "billing_enabled": stripe_configured(),
            "subscription": subscription,
            "running_bill": bill,
        }
        return Response(s.BillingAccountSerializer(data).data)


class InvoicesView(OrganizationAPIView):
    """Admins: the organization's invoices at Stripe, with their PDF links."""

    required_roles = {"GET": Role.ADMIN}
    api_scopes = {"GET": Scope.USAGE_READ}

    @extend_schema(
        parameters=PAGE_PARAMETERS, responses=s.paginated("InvoicePage", s.InvoiceSerializer)
    )
    def get(self, request):
        paginator = PageNumberPagination()
        rows = invoice_list(organization=self.organization)
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(s.InvoiceSerializer(page, many=True).data)


class _PaymentView(OrganizationAPIView):
    # Admins, or a program with an admin key (it hands the URL to a person).
    required_roles = {"POST": Role.ADMIN}
    api_scopes = {"POST": Scope.ADMIN}


class CheckoutView(_PaymentView):
    """Start a subscription: answers the Stripe Checkout URL to send the browser to.
    The plan changes when Stripe confirms the payment (webhook), not before."""

    @extend_schema(request=s.PlanChoiceSerializer, responses={201: s.URLSerializer})
    def post(self, request):
        data = s.PlanChoiceSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        url = checkout.checkout_session_create(
            organization=self.organization,
            user=request.user,
            plan_code=data.validated_data["plan"],
            interval=data.validated_data["interval"],
        )
        return Response({"url": url}, status=status.HTTP_201_CREATED)


class PortalView(_PaymentView):
    """A Stripe Customer Portal session (payment methods, invoices, cancellation)."""

    @extend_schema(request=None, responses={201: s.URLSerializer})
    def post(self, request):
        url = checkout.portal_session_create(organization=self.organization)
        return Response({"url": url}, status=status.HTTP_201_CREATED)


class PlanChangeView(_PaymentView):
    """Upgrade or downgrade a running subscription (prorated by Stripe); the new
    limits apply when Stripe's customer.subscription.updated arrives."""

    @extend_schema(request=s.PlanChoiceSerializer, responses={202: None})
    def post(self, request):
        data = s.PlanChoiceSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        checkout.subscription_change(
            organization=self.organization,
            plan_code=data.validated_data["plan"],
            interval=data.validated_data["interval"],
        )
        return Response(status=status.HTTP_202_ACCEPTED)
