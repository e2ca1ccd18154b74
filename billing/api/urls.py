from django.urls import path

from billing.api import billing_views, views

urlpatterns = [
    path("usage", views.UsageView.as_view(), name="usage"),
    path("usage/quotas", views.QuotasView.as_view(), name="usage-quotas"),
    path("billing", billing_views.BillingAccountView.as_view(), name="billing-account"),
    path("billing/plan", billing_views.CurrentPlanView.as_view(), name="billing-plan"),
    path("billing/plans", billing_views.PlanOffersView.as_view(), name="billing-plans"),
    path("billing/invoices", billing_views.InvoicesView.as_view(), name="billing-invoices"),
    path("billing/checkout", billing_views.CheckoutView.as_view(), name="billing-checkout"),
    path("billing/portal", billing_views.PortalView.as_view(), name="billing-portal"),
    path(
        "billing/subscription/change",
        billing_views.PlanChangeView.as_view(),
        name="billing-plan-change",
    ),
]
