"""The executor, step by step, in the organization's schema: outputs flow by name, side
effects carry idempotency keys, a run resumes at its first unfinished step without
repeating a finished one, retries back off, and cancel, re-run, approvals, timeouts and
the concurrency limit behave."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from assistants import services as assistant_services
from assistants.tests.providers.fake_server import Reply
from billing.models import UsageRecord
from knowledge_base import services as knowledge_services
from knowledge_base.retrieval.vector import query_embedding_cache
from prompts import services as prompt_services
from prompts.models import PromptUse
from tests.factories import local_embedding_model, make_assistant
from workflows import executor, services
from workflows.models import RunStatus, StepStatus, WorkflowRun, WorkflowStepRun
from workflows.tests.builders import http, published, start, transform


def advance(run, owner="test-worker"):
    return executor.run_advance(run_id=run.pk, owner=owner)


@pytest.mark.django_db
class TestFlow:
    def test_outputs_flow_by_name_and_the_condition_skips(self, tenant):
        workflow = published(
            tenant,
            [
                transform("greet", "Hello {{ input.name }}"),
                transform("data", '{"n": {{ input.n }}}', output="json"),
                {
                    "key": "big",
                    "type": "condition",
                    "expression": "steps.data.value.n > 10",
                    "else_goto": "small",
                },
                transform("large", "{{ steps.greet.value }}, that is a lot"),
                transform("small", "{{ steps.greet.value }}: {{ steps.data.value.n }}"),
            ],
            input_schema=[{"name": "name"}, {"name": "n", "type": "number"}],
        )
        run = start(tenant, workflow, {"name": "Ann", "n": 3})
        assert advance(run)[0] == executor.Outcome.FINISHED
        run.refresh_from_db()
        assert run.status == RunStatus.SUCCEEDED
        assert run.output == {"value": "Hello Ann: 3"}
        statuses = list(run.steps.order_by("index").values_list("key", "status"))
        assert statuses == [
            ("greet", "succeeded"),
            ("data", "succeeded"),
            ("big", "succeeded"),
            ("large", "skipped"),
            ("small", "succeeded"),
        ]

    def test_input_is_checked_against_the_schema(self, tenant):
        workflow = published(
            tenant,
            [transform("a", "{{ input.n }}")],
            input_schema=[{"name": "n", "type": "number"}],
        )
        with pytest.raises(Exception) as caught:
            start(tenant, workflow, {"n": "many"})
        assert "input.n" in caught.value.fields
        assert not WorkflowRun.objects.exists()

    def test_a_render_error_fails_the_run_with_the_step_named(self, tenant):
        workflow = published(tenant, [transform("a", "{{ input.__class__ }}")])
        run = start(tenant, workflow)
        advance(run)
        run.refresh_from_db()
        assert run.status == RunStatus.FAILED
        assert run.error.startswith("a: Refused")
        assert run.steps.get().attempts == 1  # not retryable


@pytest.mark.django_db
class TestHttpStep:
    def test_sends_the_idempotency_key_and_hides_secrets(self, tenant, receiver):
        services.secret_save(name="API_TOKEN", value="tok-very-secret-1234", user=tenant.admin)
        workflow = published(
            tenant,
            [
                http(
                    "call",
                    receiver.url + "/orders",
                    headers={"Authorization": "secret:API_TOKEN", "X-Name": "{{ input.who }}"},
                    body='{"who": "{{ input.who }}"}',
                )
            ],
            input_schema=[{"name": "who"}],
        )
        run = start(tenant, workflow, {"who": "ann"})
        advance(run)
        step = WorkflowStepRun.objects.get(run=run)
        assert step.status == StepStatus.SUCCEEDED
        (request,) = receiver.received
        assert request["headers"]["authorization"] == "tok-very-secret-1234"
        assert request["headers"]["idempotency-key"] == f"wf-{run.pk}-call"
        assert request["body"] == '{"who": "ann"}'
        assert "tok-very-secret" not in str(step.input) + str(step.output)
        assert step.output["json"]["ok"] is True

    def test_a_private_address_is_refused_by_the_policy(self, tenant, receiver, settings):
        settings.OUTBOUND_ALLOWED_NETWORKS = []
        workflow = published(
            tenant, [http("call", "http://{{ input.host }}/x")], input_schema=[{"name": "host"}]
        )
        run = start(tenant, workflow, {"host": f"127.0.0.1:{receiver.port}"})
        advance(run)
        run.refresh_from_db()
        assert run.status == RunStatus.FAILED
        assert "may not be requested" in run.error
        assert receiver.received == []

    def test_publish_refuses_a_literal_private_url(self, tenant, settings):
        settings.OUTBOUND_ALLOWED_NETWORKS = []
        with pytest.raises(Exception) as caught:
            published(tenant, [http("call", "http://169.254.169.254/latest/meta-data")])
        assert "steps.0.url" in caught.value.fields

    def test_a_5xx_is_retried_with_backoff_then_succeeds(self, tenant, receiver):
        receiver.statuses = [503, 502]
        workflow = published(tenant, [http("call", receiver.url + "/flaky", retries=3)])
        run = start(tenant, workflow)
        outcome, delay = advance(run)
        assert (outcome, delay) == (executor.Outcome.RETRY, 2.0)
        step = run.steps.get()
        assert (step.status, step.attempts) == (StepStatus.RETRYING, 1)
        assert advance(run) == (executor.Outcome.RETRY, 4.0)
        assert advance(run)[0] == executor.Outcome.FINISHED
        run.refresh_from_db()
        assert run.status == RunStatus.SUCCEEDED
        assert run.steps.get().attempts == 3
        # one key for all three attempts: the receiver can tell retries from new requests
        assert {r["headers"]["idempotency-key"] for r in receiver.received} == {f"wf-{run.pk}-call"}

    def test_a_4xx_is_not_retried(self, tenant, receiver):
        receiver.statuses = [422]
        workflow = published(tenant, [http("call", receiver.url + "/bad", retries=3)])
        run = start(tenant, workflow)
        advance(run)
        run.refresh_from_db()
        assert run.status == RunStatus.FAILED and "422" in run.error
        assert len(receiver.received) == 1


@pytest.mark.django_db
class TestDurability:
    def test_resumes_at_the_first_unfinished_step_without_repeating_finished_ones(
        self, tenant, receiver
    ):
        workflow = published(
            tenant,
            [
                http("first", receiver.url + "/first"),
                http("second", receiver.url + "/second"),
                transform("done", "{{ steps.first.status }} {{ steps.second.status }}"),
            ],
        )
        run = start(tenant, workflow)
        # given: a worker finished "first", wrote "second" running, sent it, then died
        executor._claim(run.pk, "dead-worker")
        executor._step_succeeded(
            run,
            executor._step_start(run, 0, workflow.published_version.steps[0]),
            executor.step_types.run_http_request(
                workflow.published_version.steps[0],
                executor.step_types.StepContext(
                    organization=tenant.organization,
                    user=None,
                    run=run,
                    step_run=run.steps.get(index=0),
                    values={},
                ),
            ),
        )
        executor._step_start(run, 1, workflow.published_version.steps[1])
        assert receiver.paths() == ["/first"]
        # while its lease runs, nobody else advances the run
        assert advance(run, owner="other")[0] == executor.Outcome.BUSY
        WorkflowRun.objects.filter(pk=run.pk).update(
            lease_until=timezone.now() - timedelta(seconds=1)
        )
        assert run.pk in executor.runs_stalled()
        # when: another worker takes it over
        assert advance(run, owner="other")[0] == executor.Outcome.FINISHED
        # then: "first" was not sent again; "second" ran again as its second attempt
        assert receiver.paths() == ["/first", "/second"]
        steps = {s.key: s for s in run.steps.all()}
        assert (steps["first"].attempts, steps["second"].attempts) == (1, 2)
        run.refresh_from_db()
        assert run.status == RunStatus.SUCCEEDED and run.output == {"value": "200 200"}

    def test_rerun_from_the_failed_step_copies_what_came_before(self, tenant, receiver):
        receiver.statuses = [200, 400]
        workflow = published(
            tenant,
            [
                http("first", receiver.url + "/a"),
                http("second", receiver.url + "/b"),
                transform("t", "ok"),
            ],
        )
        run = start(tenant, workflow)
        advance(run)
        run.refresh_from_db()
        assert run.status == RunStatus.FAILED
        again = services.run_rerun(run=run, user=tenant.admin)
        advance(again)
        again.refresh_from_db()
        assert again.status == RunStatus.SUCCEEDED
        assert list(again.steps.order_by("index").values_list("status", flat=True)) == [
            "copied",
            "succeeded",
            "succeeded",
        ]
        assert receiver.paths() == ["/a", "/b", "/b"]

    def test_cancel_stops_before_the_next_step(self, tenant):
        workflow = published(tenant, [transform("a", "1"), transform("b", "2")])
        run = start(tenant, workflow)
        services.run_cancel(run=run)
        advance(run)
        run.refresh_from_db()
        assert run.status == RunStatus.CANCELLED
        assert not run.steps.exists()
        with pytest.raises(Exception, match="already finished"):
            services.run_cancel(run=run)

    def test_cancel_between_local_steps_keeps_the_finished_output(self, tenant, monkeypatch):
        # given: a chain of local steps, whose outputs are written with the next step's start
        workflow = published(
            tenant, [transform("a", "first"), transform("b", "second"), transform("c", "third")]
        )
        run = start(tenant, workflow)
        render = executor.step_types.RUNNERS["transform"]

        def render_then_cancel(step, ctx):
            result = render(step, ctx)
            if step["key"] == "a":  # a member cancels while "a" renders
                services.run_cancel(run=WorkflowRun.objects.get(pk=run.pk))
            return result

        monkeypatch.setitem(executor.step_types.RUNNERS, "transform", render_then_cancel)
        # when
        assert advance(run)[0] == executor.Outcome.BUSY
        # then: "a" is recorded finished with its output, nothing after it started
        run.refresh_from_db()
        assert run.status == RunStatus.CANCELLED
        (only,) = run.steps.all()
        assert (only.key, only.status, only.output) == ("a", "succeeded", {"value": "first"})
        assert only.finished_at is not None

    def test_run_timeout(self, tenant):
        workflow = published(tenant, [transform("a", "1")], settings={"run_timeout_seconds": 5})
        run = start(tenant, workflow)
        WorkflowRun.objects.filter(pk=run.pk).update(
            deadline_at=timezone.now() - timedelta(seconds=1)
        )
        assert executor.runs_timeout() == 1
        run.refresh_from_db()
        assert run.status == RunStatus.TIMED_OUT

    def test_concurrency_limit_defers_then_runs(self, tenant, settings):
        settings.WORKFLOW_MAX_CONCURRENT_RUNS = 1
        workflow = published(tenant, [transform("a", "1")])
        first, second = start(tenant, workflow), start(tenant, workflow)
        executor._claim(first.pk, "worker-1")  # first is running
        assert advance(second, owner="worker-2")[0] == executor.Outcome.DEFERRED
        second.refresh_from_db()
        assert second.status == RunStatus.QUEUED
        assert advance(first, owner="worker-1")[0] == executor.Outcome.FINISHED
        assert advance(second, owner="worker-2")[0] == executor.Outcome.FINISHED


@pytest.mark.django_db
class TestApproval:
    def _run(self, tenant):
        workflow = published(
            tenant,
            [
                transform("draft", "Draft for {{ input.who }}"),
                {
                    "key": "ok",
                    "type": "approval",
                    "message": "Send {{ steps.draft.value }}?",
                    "timeout_hours": 1,
                },
                transform("sent", "sent"),
            ],
            input_schema=[{"name": "who"}],
        )
        run = start(tenant, workflow, {"who": "ann"})
        assert advance(run)[0] == executor.Outcome.WAITING
        run.refresh_from_db()
        assert run.status == RunStatus.WAITING
        assert run.steps.get(key="ok").output["message"] == "Send Draft for ann?"
        return run

    def test_approve_continues(self, tenant):
        run = self._run(tenant)
        services.approval_decide(run=run, approve=True, user=tenant.admin, comment="fine")
        advance(run)
        run.refresh_from_db()
        assert run.status == RunStatus.SUCCEEDED
        assert run.steps.get(key="ok").output["approved"] is True

    def test_reject_fails(self, tenant):
        run = self._run(tenant)
        services.approval_decide(run=run, approve=False, user=tenant.admin)
        run.refresh_from_db()
        assert run.status == RunStatus.FAILED and not run.steps.filter(key="sent").exists()

    def test_timeout_fails(self, tenant):
        run = self._run(tenant)
        WorkflowStepRun.objects.filter(key="ok").update(
            wait_until=timezone.now() - timedelta(seconds=1)
        )
        assert executor.approvals_expire() == 1
        run.refresh_from_db()
        assert run.status == RunStatus.FAILED and "nobody approved" in run.error


@pytest.mark.django_db
class TestAiAndEffects:
    def test_prompt_step_is_priced_in_the_ledger_as_workflow_and_counted_on_the_template(
        self, org_a, tenant, provider_server
    ):
        assistant_services.credential_create(
            provider="openai", api_key="sk-test-good-key-1234", base_url=f"{provider_server.url}/v1"
        )
        provider_server.enqueue(Reply(text="A short summary.", usage=(120, 30)))
        template = prompt_services.template_create(
            user=tenant.admin,
            name="Summary",
            body="Summarise: {{ text }}",
            variables=[{"name": "text", "type": "long_text"}],
            model_hints={"model": "openai/gpt-4o-mini"},
        )
        workflow = published(
            tenant,
            [
                {
                    "key": "sum",
                    "type": "prompt",
                    "template_id": str(template.pk),
                    "values": {"text": "{{ input.doc }}"},
                }
            ],
            input_schema=[{"name": "doc", "type": "long_text"}],
        )
        run = start(tenant, workflow, {"doc": "Refunds take five days."})
        advance(run)
        run.refresh_from_db()
        assert run.status == RunStatus.SUCCEEDED, run.error
        step = run.steps.get()
        assert step.output["text"] == "A short summary."
        record = UsageRecord.objects.get(organization=org_a.organization, channel="workflow")
        assert (step.tokens, step.cost) == (150, record.cost)
        assert record.cost > Decimal("0") and run.cost == record.cost
        use = PromptUse.objects.get()
        assert (use.source, use.tokens, use.cost, use.usage_record_id) == (
            "workflow",
            150,
            record.cost,
            record.pk,
        )
        assert step.input["template_version"] == 1

    def test_retrieve_summarise_save_and_email(self, org_a, tenant):
        # (collections first: one cannot be created after chunks in the same transaction)
        summaries = knowledge_services.collection_create(
            name="Summaries", embedding_model=local_embedding_model()
        )
        assistant = make_assistant(org_a)
        collection = assistant.collections.get()
        workflow = published(
            tenant,
            [
                {
                    "key": "find",
                    "type": "retrieve",
                    "query": "{{ input.topic }}",
                    "collection_ids": [str(collection.pk)],
                },
                {
                    "key": "ask",
                    "type": "ask_assistant",
                    "assistant_id": str(assistant.pk),
                    "message": "What about {{ input.topic }}?",
                },
                {
                    "key": "save",
                    "type": "save_document",
                    "collection_id": str(summaries.pk),
                    "title": "About {{ input.topic }}",
                    "text": "{{ steps.ask.answer }}\n\n{{ steps.find.text }}",
                },
                {
                    "key": "mail",
                    "type": "notify",
                    "to": ["team@example.test"],
                    "subject": "Summary: {{ input.topic }}",
                    "body": "{{ steps.ask.answer }}",
                },
            ],
            input_schema=[{"name": "topic"}],
        )
        query_embedding_cache.clear()  # the retrieve step's query is embedded (and charged)
        run = start(tenant, workflow, {"topic": "refunds"})
        advance(run)
        run.refresh_from_db()
        assert run.status == RunStatus.SUCCEEDED, run.error
        steps = {s.key: s for s in run.steps.all()}
        assert steps["find"].output["count"] > 0
        # Every query embedding of the run is the workflow's, none a "web" call.
        embeddings = UsageRecord.objects.filter(organization=org_a.organization, kind="embedding")
        assert embeddings.filter(channel="workflow").exists()
        assert not embeddings.filter(channel="web").exists()
        assert "Refund" in steps["find"].output["text"]
        assert steps["ask"].output["answer"]
        assert summaries.documents.get().title == "About refunds"
        (message,) = mail.outbox
        assert message.subject == "Summary: refunds"
        assert message.extra_headers["Message-ID"].startswith(f"<wf-{run.pk}-mail@")
        assert UsageRecord.objects.filter(
            organization=org_a.organization, channel="workflow"
        ).exists()

    def test_retrieve_since_days_searches_only_recent_documents(self, org_a, tenant):
        # given: the handbook, just added, and a retrieve step for "last week's documents"
        collection = make_assistant(org_a).collections.get()
        step = {
            "key": "find",
            "type": "retrieve",
            "query": "{{ input.topic }}",
            "collection_ids": [str(collection.pk)],
            "since_days": 7,
        }
        workflow = published(tenant, [step], input_schema=[{"name": "topic"}])
        run = start(tenant, workflow, {"topic": "refunds"})
        advance(run)
        recent = run.steps.get()
        assert recent.output["count"] > 0 and "Refund" in recent.output["text"]
        assert "since" in recent.input
        # when: the same documents were added ten days ago
        collection.documents.update(created_at=timezone.now() - timedelta(days=10))
        run = start(tenant, workflow, {"topic": "refunds"})
        advance(run)
        # then: nothing of last week is found (the older documents are not searched)
        run.refresh_from_db()
        assert run.status == RunStatus.SUCCEEDED
        assert run.steps.get().output == {"hits": [], "count": 0, "text": ""}
