from django.urls import path

from billing.api import views

urlpatterns = [
    path("usage", views.UsageView.as_view(), name="usage"),
    path("usage/quotas", views.QuotasView.as_view(), name="usage-quotas"),
]
