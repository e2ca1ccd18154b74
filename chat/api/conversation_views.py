"""Conversation intelligence over HTTP: imports, history search, ask-your-history,
analysis, ending a conversation, bookmarks, reactions and the settings.

Sessions and messages are reached through ``chat.access`` like every chat endpoint
(own and shared; an admin's, all), so another person's imported conversations answer
"not found" and never appear in a search.
"""

from __future__ import annotations

import functools
import json

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from assistants.catalog.models import AIModel
from audit.services import Actor
from chat import access
from chat.api import conversation_serializers as s
from chat.api.serializers import SessionOutputSerializer
from chat.api.views import StreamingErrorsAsJSON
from chat.conversations import analysis, ask, continuing, importing, insights, organize, search
from chat.conversations.indexing import conversation_settings
from chat.models import ConversationAnalysis, MessageBookmark
from core.access import Role, Scope
from core.api.parsers import JSONParser
from core.api.views import OrganizationAPIView, OrganizationGenericAPIView
from core.connections import release_connection
from core.errors import NotFound, PayloadTooLarge, ValidationFailed
from core.lookups import person

ASK_SSE = (
    "With `stream=true` (default) Server-Sent Events: `excerpts` (the numbered excerpts), "
    "`delta` (`text`), `usage` (tokens, cost, model, latency), `done` (`answer`, excerpts "
    "with `cited`); or `error` (`code`, `message`). With `stream=false`, JSON."
)


class ImportListView(mixins.ListModelMixin, OrganizationGenericAPIView):
    required_roles = {"POST": Role.VIEWER}
    api_scopes = {"GET": Scope.SESSIONS_READ, "POST": Scope.CHAT_WRITE}
    serializer_class = s.ImportOutputSerializer
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    def get_queryset(self):
        return access.imports_visible(caller=self.caller)

    @extend_schema(operation_id="conversation_imports_list")
    def get(self, request):
        return self.list(request)

    @extend_schema(
        request={"multipart/form-data": s.ImportUploadSerializer},
        responses={202: s.ImportOutputSerializer},
        description=(
            "Upload an export (ChatGPT or Claude `.zip`/`conversations.json`, Gemini Takeout "
            "`.zip`/`MyActivity.json`/`.html`, or the generic JSON). 413 above "
            "CONVERSATIONS_IMPORT_MAX_MB; the import runs as a job: poll it for progress."
        ),
    )
    def post(self, request):
        data = s.ImportUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        limit = settings.CONVERSATIONS_IMPORT_MAX_MB * 2**20
        if upload.size > limit:  # refused before the file is read into memory
            raise PayloadTooLarge(
                f"{upload.name} is {upload.size:,} bytes; the limit is {limit:,} bytes."
            )
        job = importing.conversations_import_create(
            caller=self.caller,
            name=upload.name,
            data=upload.read(),
            source=data.validated_data["source"],
            assistant_id=data.validated_data["assistant"],
            actor=Actor.from_request(request),
        )
        return Response(s.ImportOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ImportDetailView(OrganizationAPIView):
    api_scopes = {"GET": Scope.SESSIONS_READ}

    @extend_schema(responses=s.ImportOutputSerializer)
    def get(self, request, import_id):
        job = access.access_import(caller=self.caller, import_id=import_id)
        return Response(s.ImportOutputSerializer(job).data)


class ImportEstimateView(OrganizationAPIView):
    api_scopes = {"GET": Scope.SESSIONS_READ}

    @extend_schema(
        responses=s.AnalysisEstimateSerializer,
        description="What analysing this import's conversations with a model would cost.",
    )
    def get(self, request, import_id):
        job = access.access_import(caller=self.caller, import_id=import_id)
        ids = [r["session_id"] for r in job.results]
        sessions = access.sessions_visible(caller=self.caller).filter(id__in=ids)
        return Response(
            s.AnalysisEstimateSerializer(analysis.analysis_estimate(sessions=list(sessions))).data
        )


def _query(values: dict, *, caller) -> search.HistoryQuery:
    if values.get("session"):
        try:
            access.access_session(caller=caller, session_id=values["session"])
        except ObjectDoesNotExist:
            raise ValidationFailed(fields={"session": ["Unknown session."]}) from None
    return search.HistoryQuery(
        query=values["query"],
        mode=values["mode"],
        source=values["source"],
        assistant_id=values["assistant"],
        session_id=values["session"],
        role=values["role"],
        date_from=values["date_from"],
        date_to=values["date_to"],
        tag=values["tag"],
        bookmarked=values["bookmarked"],
        page=values["page"],
        page_size=values["page_size"],
    )


class SearchView(OrganizationAPIView):
    required_roles = {"POST": Role.VIEWER}
    api_scopes = {"POST": Scope.SESSIONS_READ}

    @extend_schema(
        request=s.HistorySearchInputSerializer,
        responses=s.HistorySearchOutputSerializer,
        description="Search messages (imported and live) by meaning, keyword or both.",
    )
    def post(self, request):
        data = s.HistorySearchInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        page = search.history_search(
            caller=self.caller,
            query=_query(data.validated_data, caller=self.caller),
            organization=self.organization,
        )
        return Response(s.HistorySearchOutputSerializer(page).data)


class PreparedAsk(HttpResponse):
    """The DRF part's answer for ``stream=true``: the plan, streamed by ``ask_view``."""

    def __init__(self, plan, stream_plan):
        super().__init__(content_type="text/event-stream")
        self.plan, self.stream_plan = plan, stream_plan


async def _ask_sse(prepared: PreparedAsk):
    async for name, data in ask.ask_events(prepared.plan, prepared.stream_plan):
        yield f"event: {name}\ndata: {json.dumps(data, default=str)}\n\n".encode()


def ask_view(drf_view: type):
    """Authorization, validation and retrieval are the DRF view's; the answer then
    streams on the event loop (as the chat endpoints do, ADR 0016)."""
    prepare = drf_view.as_view()

    @functools.wraps(prepare)
    async def view(request, *args, **kwargs):
        response = await sync_to_async(prepare)(request, *args, **kwargs)
        if isinstance(response, PreparedAsk):
            streamed = StreamingHttpResponse(_ask_sse(response), content_type="text/event-stream")
            streamed["Cache-Control"] = "no-cache"
            streamed["X-Accel-Buffering"] = "no"
            return streamed
        return response

    return view


class AskView(StreamingErrorsAsJSON, OrganizationAPIView):
    required_roles = {"POST": Role.VIEWER}
    api_scopes = {"POST": Scope.CHAT_WRITE}

    @extend_schema(
        request=s.HistoryAskInputSerializer,
        responses={
            (200, "text/event-stream"): OpenApiResponse(OpenApiTypes.STR, description=ASK_SSE),
            (200, "application/json"): s.HistoryAskOutputSerializer,
        },
        description="Answer a question from your past conversations, with citations. " + ASK_SSE,
    )
    def post(self, request):
        data = s.HistoryAskInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        assistant = importing.import_assistant(self.caller, values["assistant"])
        plan = ask.ask_prepare(
            caller=self.caller,
            organization=self.organization,
            question=values["question"],
            assistant=assistant,
            channel="api" if self.api_key else "web",
            query_filters={
                "source": values["source"],
                "date_from": values["date_from"],
                "date_to": values["date_to"],
            },
        )
        if values["stream"]:
            stream_plan = ask.ask_stream_plan(plan)
            release_connection()
            return PreparedAsk(plan, stream_plan)
        return Response(s.HistoryAskOutputSerializer(ask.ask_complete(plan)).data)


class AnalysisView(OrganizationAPIView):
    required_roles = {"POST": Role.VIEWER, "PATCH": Role.VIEWER}
    api_scopes = {"GET": Scope.SESSIONS_READ, "POST": Scope.CHAT_WRITE, "PATCH": Scope.CHAT_WRITE}

    def _latest(self, session) -> ConversationAnalysis:
        latest = session.analyses.order_by("-version").first()
        if latest is None:
            raise NotFound("This conversation has not been analysed yet.")
        return latest

    @extend_schema(responses=s.AnalysisOutputSerializer, description="The current analysis.")
    def get(self, request, session_id):
        session = access.access_session(caller=self.caller, session_id=session_id)
        return Response(s.AnalysisOutputSerializer(self._latest(session)).data)

    @extend_schema(
        request=None,
        responses={201: s.AnalysisOutputSerializer},
        description="Analyse the conversation now (a new version).",
    )
    def post(self, request, session_id):
        session = access.access_session(caller=self.caller, session_id=session_id, for_change=True)
        result = analysis.conversation_analyze(
            session=session, organization=self.organization, user=person(request.user)
        )
        if result is None:
            raise ValidationFailed(
                "The conversation has no text to analyse.", code="empty_conversation"
            )
        return Response(s.AnalysisOutputSerializer(result).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=s.ActionItemsUpdateSerializer,
        responses=s.AnalysisOutputSerializer,
        description="Tick action items: the positions listed are done, the others not.",
    )
    def patch(self, request, session_id):
        session = access.access_session(caller=self.caller, session_id=session_id, for_change=True)
        data = s.ActionItemsUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        latest = analysis.action_items_tick(
            analysis=self._latest(session), done=set(data.validated_data["done"])
        )
        return Response(s.AnalysisOutputSerializer(latest).data)


class EndView(OrganizationAPIView):
    required_roles = {"POST": Role.VIEWER}
    api_scopes = {"POST": Scope.CHAT_WRITE}

    @extend_schema(
        request=None,
        responses={200: OpenApiTypes.OBJECT},
        description="End the conversation; it is analysed.",
    )
    def post(self, request, session_id):
        session = access.access_session(caller=self.caller, session_id=session_id, for_change=True)
        session = organize.conversation_end(session=session)
        return Response({"session_id": str(session.pk), "ended_at": session.ended_at})


class BookmarkListView(mixins.ListModelMixin, OrganizationGenericAPIView):
    api_scopes = {"GET": Scope.SESSIONS_READ}
    serializer_class = s.BookmarkOutputSerializer

    def get_queryset(self):
        return MessageBookmark.objects.filter(
            user=person(self.request.user),
            message__session__in=access.sessions_visible(caller=self.caller),
        ).select_related("message__session")

    @extend_schema(operation_id="conversation_bookmarks_list")
    def get(self, request):
        return self.list(request)


class BookmarkView(OrganizationAPIView):
    required_roles = {"PUT": Role.VIEWER, "DELETE": Role.VIEWER}
    api_scopes = {"PUT": Scope.CHAT_WRITE, "DELETE": Scope.CHAT_WRITE}
    api_keys_allowed = False  # a bookmark is a person's

    @extend_schema(request=s.BookmarkInputSerializer, responses=s.BookmarkOutputSerializer)
    def put(self, request, message_id):
        message = access.access_message(caller=self.caller, message_id=message_id)
        data = s.BookmarkInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        bookmark = organize.bookmark_set(message=message, user=request.user, **data.validated_data)
        return Response(s.BookmarkOutputSerializer(bookmark).data)

    @extend_schema(responses={204: None})
    def delete(self, request, message_id):
        message = access.access_message(caller=self.caller, message_id=message_id)
        organize.bookmark_delete(message=message, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ReactionListView(mixins.ListModelMixin, OrganizationGenericAPIView):
    required_roles = {"POST": Role.VIEWER}
    api_scopes = {"GET": Scope.SESSIONS_READ, "POST": Scope.CHAT_WRITE}
    api_keys_allowed = False  # a reaction is a person's
    serializer_class = s.ReactionOutputSerializer

    def get_queryset(self):
        message = access.access_message(caller=self.caller, message_id=self.kwargs["message_id"])
        return message.reactions.all()

    @extend_schema(operation_id="conversation_message_reactions_list")
    def get(self, request, message_id):
        return self.list(request)

    @extend_schema(request=s.ReactionInputSerializer, responses={201: s.ReactionOutputSerializer})
    def post(self, request, message_id):
        message = access.access_message(caller=self.caller, message_id=message_id)
        data = s.ReactionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        reaction = organize.reaction_add(message=message, user=request.user, **data.validated_data)
        return Response(s.ReactionOutputSerializer(reaction).data, status=status.HTTP_201_CREATED)


class ReactionDetailView(OrganizationAPIView):
    required_roles = {"DELETE": Role.VIEWER}
    api_scopes = {"DELETE": Scope.CHAT_WRITE}
    api_keys_allowed = False

    @extend_schema(responses={204: None})
    def delete(self, request, message_id, reaction_id):
        message = access.access_message(caller=self.caller, message_id=message_id)
        organize.reaction_delete(message=message, user=request.user, reaction_id=reaction_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _model(key: str | None, field: str) -> AIModel | None:
    if key is None:
        return None
    provider, _, model_id = key.partition("/")
    model = AIModel.objects.filter(provider=provider, model_id=model_id).first()
    if model is None:
        raise ValidationFailed(fields={field: ["Unknown model."]})
    return model


class SettingsView(OrganizationAPIView):
    required_roles = {"PATCH": Role.ADMIN}
    api_scopes = {"GET": Scope.SESSIONS_READ, "PATCH": Scope.ADMIN}

    @extend_schema(responses=s.ConversationSettingsSerializer)
    def get(self, request):
        return Response(s.ConversationSettingsSerializer(conversation_settings()).data)

    @extend_schema(
        request=s.ConversationSettingsUpdateSerializer, responses=s.ConversationSettingsSerializer
    )
    def patch(self, request):
        data = s.ConversationSettingsUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        changes = {}
        if "embedding_model" in values:
            changes["embedding_model"] = _model(values.pop("embedding_model"), "embedding_model")
        if "analysis_model" in values:
            changes["analysis_model"] = _model(values.pop("analysis_model"), "analysis_model")
        row = organize.settings_update(**changes, **values)
        return Response(s.ConversationSettingsSerializer(row).data)


class InsightsView(OrganizationAPIView):
    api_scopes = {"GET": Scope.SESSIONS_READ}

    @extend_schema(
        parameters=[s.InsightsInputSerializer],
        responses=s.InsightsOutputSerializer,
        description=(
            "Topics and sentiment over the conversations you can see (an admin: the "
            "organization's), from each one's current analysis, by day, week or month."
        ),
    )
    def get(self, request):
        data = s.InsightsInputSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        result = insights.conversation_insights(
            caller=self.caller, query=insights.InsightsQuery(**data.validated_data)
        )
        return Response(s.InsightsOutputSerializer(result).data)


class ContinueView(OrganizationAPIView):
    required_roles = {"POST": Role.VIEWER}
    api_scopes = {"POST": Scope.CHAT_WRITE}

    @extend_schema(
        request=s.ContinueInputSerializer,
        responses={201: SessionOutputSerializer},
        description=(
            "Continue this conversation (an imported one, say) with any assistant: a new "
            "chat session of yours whose history is this conversation's turns."
        ),
    )
    def post(self, request, session_id):
        session = access.access_session(caller=self.caller, session_id=session_id)
        data = s.ContinueInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        assistant = importing.import_assistant(self.caller, data.validated_data["assistant"])
        new = continuing.conversation_continue(
            caller=self.caller, session=session, assistant=assistant
        )
        return Response(SessionOutputSerializer(new).data, status=status.HTTP_201_CREATED)
