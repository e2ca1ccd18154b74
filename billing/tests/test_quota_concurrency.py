"""Quotas under concurrency: committed data, real threads, one connection each."""

import threading

from django.db import connection
from django_tenants.utils import schema_context

from billing.models import Plan
from billing.plans import plan_cache_clear
from billing.quotas import QuotaExceeded
from chat import services as chat_services
from chat.models import ChatSession, Message
from core.api.authorization import caller_resolve
from tests.factories import make_assistant
from users.models import Organization


def test_a_burst_cannot_overshoot_the_messages_quota(organizations, django_db_blocker):
    """12 simultaneous questions with 3 messages left: exactly 3 are stored."""
    org = organizations["alpha"]
    with django_db_blocker.unblock():
        plan, _ = Plan.objects.get_or_create(code="burst", defaults={"name": "Burst"})
        try:
            with schema_context(org.slug):
                assistant = make_assistant(org, with_knowledge=False)
                already = Message.objects.filter(role="user").count()
            Plan.objects.filter(pk=plan.pk).update(monthly_messages=already + 3)
            Organization.objects.filter(pk=org.organization.pk).update(plan="burst")
            plan_cache_clear()
            organization = Organization.objects.get(pk=org.organization.pk)
            outcomes = []
            start = threading.Barrier(12)
            caller = caller_resolve(organization=organization, user=org.member, api_key=None)

            def ask(number):
                with schema_context(org.slug):
                    start.wait()
                    try:
                        chat_services.chat_prepare(
                            organization=organization,
                            assistant_id=assistant.pk,
                            message=f"Question {number}?",
                            user=org.member,
                            caller=caller,
                        )
                        outcomes.append("ok")
                    except QuotaExceeded:
                        outcomes.append("refused")
                connection.close()

            threads = [threading.Thread(target=ask, args=(n,)) for n in range(12)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

            assert sorted(outcomes) == ["ok"] * 3 + ["refused"] * 9
            with schema_context(org.slug):
                assert Message.objects.filter(role="user").count() == already + 3
        finally:
            Organization.objects.filter(pk=org.organization.pk).update(plan="enterprise")
            plan_cache_clear()
            with schema_context(org.slug):
                ChatSession.objects.filter(assistant=assistant).delete()
                assistant.delete()
            plan.delete()
