"""Fail closed without a tenant: tasks and code needing a schema refuse public."""

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from core.tenancy import TenantRequiredError, require_tenant_schema
from users.tasks import organization_schema_status


def test_require_tenant_schema_raises_in_public(db):
    connection.set_schema_to_public()
    with pytest.raises(TenantRequiredError):
        require_tenant_schema()


def test_tenant_task_runs_in_the_schema_it_was_sent_from(org_a, org_b, celery_worker):
    with schema_context(org_a.slug):
        result_a = organization_schema_status.delay()
    with schema_context(org_b.slug):
        result_b = organization_schema_status.delay()
    assert result_a.get(timeout=20)["schema"] == "alpha"
    assert result_b.get(timeout=20)["schema"] == "beta"


def test_tenant_task_sent_from_public_raises(db, celery_worker):
    connection.set_schema_to_public()
    result = organization_schema_status.delay()
    with pytest.raises(Exception) as exc:
        result.get(timeout=20)
    assert "TenantRequiredError" in type(exc.value).__name__ or "public schema" in str(exc.value)
