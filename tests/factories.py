"""Builders of test data, in one place (plain functions over the services).

Every test module imports what it needs from here; conftest.py files hold only
fixtures (which call these). Organizations and their people come from the
session fixtures of the root conftest.py (``org_a``, ``org_b``).
"""

from django.utils import timezone
from django_tenants.utils import schema_context

from assistants import services as assistant_services
from assistants.catalog.models import AIModel
from audit.services import Actor
from chat import services as chat_services
from chat.models import Message
from core.access import Role, Scope
from core.api.authorization import caller_resolve
from core.tenancy import current_organization
from integrations.services import api_key_create
from knowledge_base import ingestion, web_sources
from knowledge_base import services as knowledge_services
from knowledge_base.models import Document, DocumentStatus
from prompts import services as prompt_services
from users import services as user_services

# A small real handbook: the local embedder and the extractive responder answer from it.
HANDBOOK = {
    "Refund policy": "# Refunds\n\nA refund is paid to the original card within five business days "
    "after we receive the returned item. Items must be returned within 30 days.",
    "Shipping guide": "# Shipping\n\nParcels leave the Lyon warehouse every weekday. Express delivery "
    "inside the European Union takes two days.",
}


def catalog_model(key: str) -> AIModel:
    """A catalog model by its "provider/model_id"."""
    provider, model_id = key.split("/", 1)
    return AIModel.objects.get(provider=provider, model_id=model_id)


def local_embedding_model() -> AIModel:
    return AIModel.objects.get(provider="local", model_id="all-minilm-l6-v2")


def process_pending(org) -> list[ingestion.IngestionResult]:
    """Do what a worker does with the queued documents (in this test's transaction)."""
    with schema_context(org.slug):
        results = []
        for document in Document.objects.filter(status=DocumentStatus.PENDING).order_by(
            "created_at"
        ):
            results.append(
                ingestion.document_process(
                    document_id=document.id,
                    version=document.version,
                    organization=current_organization(),
                )
            )
        return results


def add_text(org, collection, title: str, text: str) -> Document:
    with schema_context(org.slug):
        outcome = knowledge_services.document_create_text(
            collection=collection, title=title, text=text
        )
        return outcome.document


def make_assistant(org, model_key="local/extractive", with_knowledge=True, **fields):
    """An assistant of ``org``; with knowledge, it answers from a processed HANDBOOK."""
    with schema_context(org.slug):
        collections = []
        if with_knowledge:
            collection = knowledge_services.collection_create(
                name=f"KB {org.slug}", embedding_model=local_embedding_model()
            )
            for title, text in HANDBOOK.items():
                add_text(org, collection, title, text)
            collections = [collection]
        assistant = assistant_services.assistant_create(
            user=org.admin,
            name=f"Helper {org.slug}",
            model=catalog_model(model_key),
            collections=collections,
            retrieval_top_k=4,
            **fields,
        )
    if with_knowledge:
        process_pending(org)
    return assistant


def api_key_for(org, *scopes: str, name: str = "program", **fields):
    """A new API key of ``org`` (a conftest ``Org``): ``(APIKey, full key)``.
    Without scopes it has ``admin`` (every scope)."""
    with schema_context(org.slug):
        return api_key_create(
            organization=org.organization,
            name=name,
            scopes=list(scopes) or ["admin"],
            actor=Actor(user=org.admin),
            **fields,
        )


def _name(label: str, kind: str, n: int) -> str:
    return f"{label} {kind}" + (f" {n}" if n else "")


def seed_every_kind(org, *, label: str, email: str = "invitee", copies: int = 1) -> None:
    """``copies`` objects of every kind the organization API lists, named after
    ``label``: invitations, assistants, credentials, rerankers, collections, documents of the
    first collection (processed into chunks), turns of one chat session, API keys.
    The isolation suite seeds one of each; the query-count suite several, so that an
    N+1 shows."""
    for n in range(copies):
        user_services.invitation_create(
            organization=org.organization,
            email=f"{email}{f'-{n}' if n else ''}@example.test",
            role=Role.VIEWER,
            invited_by=org.admin,
        )
    with schema_context(org.slug):
        assistants = [
            assistant_services.assistant_create(
                user=org.admin,
                name=_name(label, "assistant", n),
                model=catalog_model("local/extractive"),
            )
            for n in range(copies)
        ]
        for n, provider in enumerate(["openai", "anthropic", "google"][:copies]):
            assistant_services.credential_create(
                provider=provider, api_key=f"sk-{label.lower()}-secret-{n}", user=org.admin
            )
        for n in range(copies):
            # At a literal public address: never called here (no search reranks).
            assistant_services.reranker_create(
                name=_name(label, "reranker", n),
                base_url=f"http://93.184.215.14/{label.lower()}-rerank",
                model="rerank-model",
                api_key=f"sk-{label.lower()}-rerank-{n}",
                user=org.admin,
            )
        collections = [
            knowledge_services.collection_create(
                name=_name(label, "collection", n),
                embedding_model=local_embedding_model(),
                chunk_size=60,
                chunk_overlap=10,
            )
            for n in range(copies)
        ]
        # Sitemaps (never fetched here: their tasks are queued on commit), at a literal
        # public address, so adding them resolves no name.
        for n in range(copies):
            web_sources.sitemap_add(
                collection=collections[0],
                url=f"http://93.184.215.14/{label}/sitemap-{n}.xml",
                actor=Actor(user=org.admin),
            )
        # With copies, documents are long enough to make several chunks each.
        filler = "".join(f"\n\n## Part {i}\n\n" + "Words of the handbook. " * 20 for i in range(4))
        for n in range(copies):
            knowledge_services.document_create_text(
                collection=collections[0],
                title=_name(label, "document", n),
                text=f"{label} secret text" + (f" {n}{filler}" if copies > 1 else ""),
            )
    process_pending(org)  # their chunks
    seed_evaluation(org, label=label, collection=collections[0], copies=copies)
    with schema_context(org.slug):
        session_id = None
        for _ in range(copies):
            turn = chat_services.chat_prepare(
                organization=org.organization,
                assistant_id=assistants[0].id,
                message=f"{label} question",
                user=org.admin,
                session_id=session_id,
                caller=caller_resolve(organization=org.organization, user=org.admin, api_key=None),
            )
            chat_services.chat_finish(turn=turn, text=f"{label} answer", status="complete")
            session_id = turn.session.id
        # Thumbs-down answers, for the admins' feedback review.
        for answer in Message.objects.filter(session_id=session_id, role="assistant"):
            chat_services.message_feedback(message=answer, rating=-1, comment=f"{label} comment")
    for n in range(copies):
        api_key_for(org, Scope.ADMIN, name=_name(label, "key", n))
    upload_files(
        org,
        [
            (f"{_name(label, 'file', n)}.txt", f"{label} secret file {n}".encode())
            for n in range(copies)
        ],
    )
    for n in range(copies):
        slack = slack_integration_for(
            org, team_id=f"T-{org.slug}-{label}-{n}".upper().replace(" ", ""), problems=copies
        )
        # a channel its bot is in: what workflows' notify steps may post to
        from integrations import bots

        bots.channel_seen(
            integration=slack, channel_id=f"C{n}", kind="channel", name=_name(label, "channel", n)
        )
        # Listed first (newest): the isolation suite's {integration_id} is a Teams bot, so
        # its app package is asked for with a real Teams id.
        teams_integration_for(org, name=_name(label, "Teams bot", n), problems=copies)
    seed_webhooks(org, label=label, copies=copies)
    seed_widgets(org, assistant_id=assistants[0].id, label=label, copies=copies)
    seed_gmail(org, label=label, collection_id=collections[0].id)
    seed_prompts_and_workflows(org, label=label, copies=copies)
    # Last: it reacts to the messages of every session the seeds above made.
    seed_conversations(org, label=label, copies=copies, session_id=session_id)


def seed_evaluation(org, *, label: str, collection, copies: int = 1) -> None:
    """Test questions of ``collection`` (one per seeded document) and ``copies`` finished
    evaluation runs of them."""
    from knowledge_base.evaluation import runs as evaluation_runs
    from knowledge_base.evaluation import services as evaluation_services

    with schema_context(org.slug):
        for n in range(copies):
            evaluation_services.question_create(
                collection=collection,
                text=f"{label} test question {n}",
                documents=[evaluation_services.DocumentReference(_name(label, "document", n))],
                user=org.admin,
            )
        for n in range(copies):
            run = evaluation_services.run_start(
                collection=collection, modes=["keyword"], user=org.admin
            )
            evaluation_runs.evaluation_run_execute(
                run_id=run.pk, owner=f"seed-{n}", organization=org.organization
            )


def upload_files(org, files: list[tuple[str, bytes]], user=None, process: bool = True) -> list:
    """Files uploaded through the Files API's service (as ``user``, default the admin),
    read as the worker would (``process``)."""
    from files import services as file_services
    from files import uploads

    with schema_context(org.slug):
        stored = uploads.files_upload(
            uploads=[uploads.Upload(name, data) for name, data in files],
            user=user or org.admin,
        )
        if process:
            stored = [file_services.file_process(file_id=f.id) for f in stored]
        return stored


def slack_integration_for(org, *, team_id: str = "T0001", name: str = "Acme Slack", problems=1):
    """A Slack workspace installed for ``org`` (what the OAuth callback stores), with
    ``problems`` entries on its page."""
    from slack_sdk.oauth.installation_store import Installation

    from integrations import bots
    from integrations.slack.store import installation_store

    integration = installation_store.save_for(
        Installation(
            app_id="A0001",
            team_id=team_id,
            team_name=name,
            bot_token=f"xoxb-{team_id.lower()}",
            bot_id="B0001",
            bot_user_id="UBOT",
            bot_scopes="chat:write",
            user_id="UADMIN",
        ),
        organization=org.organization,
        user=org.admin,
    )
    for _ in range(problems):
        bots.problem_record(integration=integration, kind="no_assistant", message=bots.NO_ASSISTANT)
    return integration


def teams_integration_for(org, *, name: str = "Teams bot", problems=1):
    """A Teams bot connected by ``org``'s admin (its own app id in its own Microsoft
    tenant), with ``problems`` entries on its page."""
    import uuid

    from integrations import bot_services, bots

    with schema_context(org.slug):
        integration = bot_services.teams_connect(
            organization=org.organization,
            name=name,
            app_id=str(uuid.uuid4()),
            app_password=f"{name} secret",
            tenant_id=str(uuid.uuid4()),
            actor=Actor(user=org.admin),
        )
    for _ in range(problems):
        bots.problem_record(integration=integration, kind="no_assistant", message=bots.NO_ASSISTANT)
    return integration


def seed_webhooks(org, *, label: str, copies: int = 1) -> list:
    """Webhook endpoints (on an address that does not resolve) with ``copies`` logged
    deliveries each."""
    from integrations.webhooks import services as webhook_services

    endpoints = []
    with schema_context(org.slug):
        actor = Actor(user=org.admin)
        for n in range(copies):
            endpoint, _ = webhook_services.endpoint_create(
                organization=org.organization,
                url=f"https://hooks.{label.lower()}-{n}.invalid/receive",
                event_types=["document.completed", "chat.message.completed"],
                description=_name(label, "webhook", n),
                actor=actor,
            )
            for _ in range(copies):
                webhook_services.endpoint_send_test(endpoint=endpoint, actor=actor)
            endpoints.append(endpoint)
    return endpoints


def seed_gmail(org, *, label: str, collection_id):
    """The admin's Gmail connection (one per member), configured to sync a label into
    ``collection_id``, with a synced thread. Its refresh token is a canary."""
    from core import crypto
    from integrations.models import GmailConnection, GmailThread

    connection = GmailConnection.objects.create(
        organization=org.organization,
        user=org.admin,
        email=f"gmail-{label.lower()}@{org.slug}.test",
        scopes=["https://www.googleapis.com/auth/gmail.readonly"],
        refresh_token_encrypted=crypto.encrypt(f"1//{label}-refresh-token"),
        label_id="Label_1",
        label_name=f"{label} label",
        collection_id=collection_id,
        history_id="1000",
    )
    GmailThread.objects.create(
        connection=connection, organization=org.organization, thread_id=f"{label}-thread"
    )
    return connection


def seed_widgets(org, *, assistant_id, label: str, copies: int = 1) -> list:
    """Widgets of ``assistant_id``, the newest (first listed) with ``copies`` visitor
    conversations."""
    from integrations.widget import services as widget_services

    widgets = []
    with schema_context(org.slug):
        for n in range(copies):
            widgets.append(
                widget_services.widget_create(
                    organization=org.organization,
                    actor=Actor(user=org.admin),
                    name=_name(label, "widget", n),
                    assistant_id=assistant_id,
                    allowed_domains=[f"{label.lower()}-{n}.example.test"],
                )
            )
        caller = widget_services.widget_caller(widgets[-1])
        for n in range(copies):
            turn = chat_services.chat_prepare(
                organization=org.organization,
                assistant_id=assistant_id,
                message=f"{label} visitor question {n}",
                user=None,
                caller=caller,
                channel="widget",
            )
            chat_services.chat_finish(turn=turn, text=f"{label} answer", status="complete")
    return widgets


def seed_conversations(org, *, label: str, copies: int, session_id) -> None:
    """Conversation imports (each one conversation), an analysis of the chat session,
    bookmarks of its messages and reactions to its first message (chat/conversations/)."""
    import json

    from chat.conversations import analysis, importing, organize
    from chat.models import ChatSession

    admin = caller_resolve(organization=org.organization, user=org.admin, api_key=None)
    with schema_context(org.slug):
        for n in range(copies):
            export = [
                {
                    "id": f"{label}-{n}",
                    "title": _name(label, "imported conversation", n),
                    "create_time": 1_700_000_000 + n,
                    "turns": [
                        {"role": "user", "text": f"{label} imported question {n}"},
                        {"role": "assistant", "text": f"{label} imported answer {n}"},
                    ],
                }
            ]
            job = importing.conversations_import_create(
                caller=admin,
                name=f"{label}-{n}.json",
                data=json.dumps(export).encode(),
                source="json",
            )
            importing.conversation_import_run(import_id=job.pk)
        session = ChatSession.objects.get(pk=session_id)
        analysis.conversation_analyze(session=session, organization=org.organization)
        messages = list(session.messages.order_by("created_at"))
        for message in messages[:copies]:
            organize.bookmark_set(message=message, user=org.admin, note=f"{label} bookmark")
        # The seeded conversation is the newest, so list walks that take the first
        # session find its messages (``copies`` turns), not a widget's single turn.
        ChatSession.objects.filter(pk=session_id).update(last_message_at=timezone.now())
        # Every message of every session carries reactions, whichever one a caller picks.
        for other in ChatSession.objects.all():
            for message in other.messages.all():
                for emoji in ["👍", "🎉", "❤️"][: max(copies, 1)]:
                    organize.reaction_add(message=message, user=org.admin, emoji=emoji)


def seed_prompts_and_workflows(org, *, label: str, copies: int) -> None:
    """Prompt templates (two versions each), published workflows with a finished run,
    and workflow secrets."""
    from workflows import executor
    from workflows import services as workflow_services

    with schema_context(org.slug):
        for n in range(copies):
            template = prompt_services.template_create(
                user=org.admin,
                name=_name(label, "prompt", n),
                body=f"{label} secret prompt about {{{{ topic }}}}",
                variables=[{"name": "topic"}],
            )
            for extra in range(max(copies, 1)):
                prompt_services.version_create(
                    template=template,
                    user=org.admin,
                    body=f"v{extra + 2} {{{{ topic }}}}",
                    variables=[{"name": "topic"}],
                )
            workflow, _ = workflow_services.workflow_create(
                user=org.admin,
                name=_name(label, "workflow", n),
                draft={
                    "steps": [
                        {"key": "a", "type": "transform", "template": f"{label} secret output"},
                        {"key": "b", "type": "transform", "template": "{{ steps.a.value }}"},
                    ]
                },
            )
            for _ in range(max(copies, 1)):
                workflow_services.workflow_publish(workflow=workflow, user=org.admin)
                workflow.refresh_from_db()
                run = workflow_services.run_start(
                    workflow=workflow, trigger="manual", user=org.admin
                )
                executor.run_advance(run_id=run.pk, owner="seed")
            workflow_services.secret_save(
                name=f"{''.join(c if c.isalnum() else '_' for c in label.upper())}_SECRET_{n}",
                value=f"{label}-secret-value-{n}",
                user=org.admin,
            )


def member_turn_prepare(org, assistant, message="How do refunds work?", session=None):
    """A member's question prepared for streaming (``chat_prepare``): the turn, its rows
    stored, nothing sent to the provider yet."""
    with schema_context(org.slug):
        return chat_services.chat_prepare(
            organization=org.organization,
            assistant_id=assistant.id,
            message=message,
            user=org.member,
            session_id=session.pk if session is not None else None,
            caller=caller_resolve(organization=org.organization, user=org.member, api_key=None),
        )
