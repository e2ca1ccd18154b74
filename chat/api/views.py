"""Chat over HTTP: SSE or JSON answers, sessions, message actions.

The three endpoints that answer (chat, regenerate, edit) are async views: the DRF view
of each one authorizes (the organization base view), validates and prepares the turn
in a worker thread, then the answer streams on the event loop with no thread of its own
(ADR 0016). ``stream=false`` answers as JSON from the DRF view.
"""

import asyncio
import functools
import json

from asgiref.sync import sync_to_async
from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from assistants import selectors as assistant_selectors
from assistants.api import serializers as assistant_serializers
from assistants.providers.errors import ProviderError, as_domain_error
from chat import access, export, selectors, services, streaming
from chat.api import serializers as s
from chat.models import ConversationSource
from chat.models import Role as MessageRole
from core.access import Role, Scope
from core.api.views import OrganizationAPIView, OrganizationGenericAPIView

SSE_DESCRIPTION = (
    "With `stream=true` (default) the answer arrives as Server-Sent Events: `session` "
    "(ids, title), `delta` (`text`), `sources`, `usage` (tokens, cost, latency), `done`; or "
    "`error` (`code`, `message`) if the provider fails. With `stream=false`, JSON."
)


STREAM_OR_JSON = {
    (200, "text/event-stream"): OpenApiResponse(OpenApiTypes.STR, description=SSE_DESCRIPTION),
    (200, "application/json"): s.ChatOutputSerializer,
}


class PreparedStream(HttpResponse):
    """What a chat view's DRF part returns for ``stream=true``: the prepared turn, for
    the async view around it to stream (``answering_view``). Never sent as such."""

    def __init__(self, turn):
        super().__init__(content_type="text/event-stream")
        self.turn = turn


def sse_response(turn) -> StreamingHttpResponse:
    response = StreamingHttpResponse(streaming.sse_stream(turn), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: do not buffer the stream
    return response


def answering_view(drf_view: type):
    """The async view of a chat endpoint that answers.

    Authorization, validation and preparation are the DRF view's, unchanged: it runs
    (one thread-sensitive call, the thread Django's middleware used) and either returns
    its response (an error in the one format, or the JSON answer) or a
    ``PreparedStream``, which is then streamed here on the event loop. A client that
    leaves while the turn is being prepared gets its placeholder answer stored as
    ``cancelled`` rather than left ``streaming``.
    """
    prepare = drf_view.as_view()

    @functools.wraps(prepare)  # keeps cls, view_class, csrf_exempt for Django, the schema, tests
    async def view(request, *args, **kwargs):
        preparing = asyncio.ensure_future(sync_to_async(prepare)(request, *args, **kwargs))
        try:
            response = await asyncio.shield(preparing)
        except asyncio.CancelledError:
            response = await preparing
            if isinstance(response, PreparedStream):
                await streaming.store_cancelled(response.turn)
            raise
        if isinstance(response, PreparedStream):
            return sse_response(response.turn)
        return response

    return view


def _respond(turn, stream: bool):
    if stream:
        # Nothing touches the database while the provider streams: release the
        # request's connection now; the answer is stored with a fresh one.
        streaming.release_connection()
        return PreparedStream(turn)
    try:
        message = streaming.run_turn_to_completion(turn)
    except ProviderError as error:
        raise as_domain_error(error) from error
    return Response(
        s.ChatOutputSerializer({"session_id": turn.session.id, "message": message}).data
    )


def _prepare(view, **kwargs):
    if kwargs.get("session_id") is not None and kwargs.get("existing_user_message") is None:
        # A new question goes into a conversation of the caller's own (chat.access).
        access.check_may_write(caller=view.caller, session_id=kwargs["session_id"])
    try:
        return services.chat_prepare(
            organization=view.organization,
            user=view.request.user,
            caller=view.caller,
            channel="api" if view.api_key else "web",
            **kwargs,
        )
    except ProviderError as error:
        raise as_domain_error(error) from error


class EventStreamRenderer(BaseRenderer):
    """Lets clients ask for ``Accept: text/event-stream``; the stream itself is a
    StreamingHttpResponse, and errors before it starts are rendered as JSON."""

    media_type = "text/event-stream"
    format = "sse"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode()


STREAMING_RENDERERS = [JSONRenderer, EventStreamRenderer]


class StreamingErrorsAsJSON:
    """Errors of a streaming endpoint keep the one JSON error format, whatever the
    client asked for (``Accept: text/event-stream`` or ``?format=sse``)."""

    renderer_classes = STREAMING_RENDERERS

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response


class ChatView(StreamingErrorsAsJSON, OrganizationAPIView):
    # Viewers may chat; changing assistants is for members.
    required_roles = {"POST": Role.VIEWER}
    api_scopes = {"POST": Scope.CHAT_WRITE}

    @extend_schema(
        request=s.ChatInputSerializer,
        responses=STREAM_OR_JSON,
        description=SSE_DESCRIPTION,
    )
    def post(self, request):
        data = s.ChatInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        turn = _prepare(
            self,
            assistant_id=values["assistant"],
            session_id=values.get("session"),
            message=values["message"],
            top_k=values.get("top_k"),
            attachments=values.get("attachments"),
            prompt_version=values.get("prompt_version"),
        )
        return _respond(turn, values["stream"])


class SessionListView(mixins.ListModelMixin, OrganizationGenericAPIView):
    api_scopes = {"GET": Scope.SESSIONS_READ}
    serializer_class = s.SessionOutputSerializer

    def get_queryset(self):
        query = s.SessionQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        return selectors.session_list(
            caller=self.caller,
            assistant_id=params["assistant"],
            archived=params["archived"],
            search=params["search"],
            source=params["source"],
            tag=params["tag"],
            everyone=params["owner"] == "everyone",
        )

    @extend_schema(
        operation_id="chat_sessions_list",
        parameters=[
            OpenApiParameter("assistant", OpenApiTypes.UUID),
            OpenApiParameter("archived", bool),
            OpenApiParameter("search", str),
            OpenApiParameter("source", enum=ConversationSource.values),
            OpenApiParameter("tag", str),
            OpenApiParameter(
                "owner",
                enum=["me", "everyone"],
                default="everyone",
                description="me: your own conversations (the dashboard's default); "
                "everyone: every one you may see (an admin: every member's, read-only).",
            ),
        ],
    )
    def get(self, request):
        return self.list(request)


class SessionDetailView(OrganizationAPIView):
    required_roles = {"PATCH": Role.VIEWER, "DELETE": Role.VIEWER}
    api_scopes = {"GET": Scope.SESSIONS_READ, "PATCH": Scope.CHAT_WRITE, "DELETE": Scope.CHAT_WRITE}

    def _get(self, session_id, *, owner_only=False):
        return access.access_session(
            caller=self.caller, session_id=session_id, for_change=owner_only
        )

    @extend_schema(responses=s.SessionOutputSerializer)
    def get(self, request, session_id):
        return Response(s.SessionOutputSerializer(self._get(session_id)).data)

    @extend_schema(request=s.SessionUpdateSerializer, responses=s.SessionOutputSerializer)
    def patch(self, request, session_id):
        session = self._get(session_id, owner_only=True)
        data = s.SessionUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        return Response(
            s.SessionOutputSerializer(
                services.session_update(session=session, **data.validated_data)
            ).data
        )

    @extend_schema(responses={204: None})
    def delete(self, request, session_id):
        services.session_delete(session=self._get(session_id, owner_only=True))
        return Response(status=status.HTTP_204_NO_CONTENT)


class SessionMessagesView(mixins.ListModelMixin, OrganizationGenericAPIView):
    api_scopes = {"GET": Scope.SESSIONS_READ}
    serializer_class = s.MessageOutputSerializer

    def get_queryset(self):
        session = access.access_session(caller=self.caller, session_id=self.kwargs["session_id"])
        query = s.MessageQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        newest_first = query.validated_data["order"] == "newest"
        return selectors.session_messages(session=session, newest_first=newest_first)

    @extend_schema(
        operation_id="chat_session_messages_list",
        parameters=[
            OpenApiParameter(
                "order",
                enum=["oldest", "newest"],
                default="oldest",
                description="newest: the latest messages on page 1 (a chat loads older "
                "pages on demand).",
            )
        ],
    )
    def get(self, request, session_id):
        return self.list(request)


class SessionExportView(OrganizationAPIView):
    api_scopes = {"GET": Scope.SESSIONS_READ}

    @extend_schema(
        parameters=[OpenApiParameter("type", enum=["json", "markdown"], default="json")],
        responses={
            (200, "application/json"): OpenApiTypes.OBJECT,
            (200, "text/markdown"): OpenApiTypes.STR,
        },
    )
    def get(self, request, session_id):
        session = access.access_session(caller=self.caller, session_id=session_id)
        name = f"chat-{session.id}"
        if request.query_params.get("type") == "markdown":
            response = HttpResponse(
                export.session_as_markdown(session), content_type="text/markdown; charset=utf-8"
            )
            response["Content-Disposition"] = f'attachment; filename="{name}.md"'
            return response
        response = JsonResponse(export.session_as_dict(session))
        response["Content-Disposition"] = f'attachment; filename="{name}.json"'
        return response


class MessageActionView(StreamingErrorsAsJSON, OrganizationAPIView):
    required_roles = {"POST": Role.VIEWER}
    api_scopes = {"POST": Scope.CHAT_WRITE}

    def _message(self, message_id):
        return access.access_message(caller=self.caller, message_id=message_id, for_change=True)


class RegenerateView(MessageActionView):
    @extend_schema(
        request=s.ReplyOptionsSerializer,
        responses=STREAM_OR_JSON,
        description="Answer the same question again. " + SSE_DESCRIPTION,
    )
    def post(self, request, message_id):
        answer = self._message(message_id)
        if answer.role != MessageRole.ASSISTANT or answer.reply_to is None:
            raise ObjectDoesNotExist("Not an answer.")
        options = s.ReplyOptionsSerializer(data=request.data)
        options.is_valid(raise_exception=True)
        turn = _prepare(
            self,
            assistant_id=answer.session.assistant_id,
            session_id=answer.session_id,
            message=None,
            existing_user_message=answer.reply_to,
            regenerates=answer,
        )
        return _respond(turn, options.validated_data["stream"])


class EditView(MessageActionView):
    @extend_schema(
        request=s.EditSerializer,
        responses=STREAM_OR_JSON,
        description="Change a question (its first wording is kept) and answer it again. "
        + SSE_DESCRIPTION,
    )
    def post(self, request, message_id):
        question = self._message(message_id)
        data = s.EditSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        question = services.message_edit(message=question, content=data.validated_data["content"])
        turn = _prepare(
            self,
            assistant_id=question.session.assistant_id,
            session_id=question.session_id,
            message=None,
            existing_user_message=question,
            regenerates=services.latest_answer(user_message=question),
        )
        return _respond(turn, data.validated_data["stream"])


class FeedbackView(MessageActionView):
    @extend_schema(request=s.FeedbackSerializer, responses=s.MessageOutputSerializer)
    def post(self, request, message_id):
        message = self._message(message_id)
        data = s.FeedbackSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        message = services.message_feedback(message=message, **data.validated_data)
        return Response(s.MessageOutputSerializer(message).data)


class AssistantTestView(OrganizationAPIView):
    """One non-streamed reply from an assistant: the same turn as chat (retrieval from
    its collections, numbered sources, citations, cost in the ledger), no conversation."""

    api_scopes = {"POST": Scope.CHAT_WRITE}

    @extend_schema(
        operation_id="assistants_test_create",
        tags=["assistants"],
        request=assistant_serializers.AssistantTestInputSerializer,
        responses=s.AssistantTestReplySerializer,
    )
    def post(self, request, assistant_id):
        assistant = assistant_selectors.assistant_get(
            assistant_id=assistant_id, only_ids=self.allowed_assistant_ids()
        )
        data = assistant_serializers.AssistantTestInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            reply = services.assistant_test_reply(
                organization=self.organization,
                assistant_id=assistant.id,
                message=data.validated_data["message"],
                user=request.user,
                caller=self.caller,
                channel="api" if self.api_key else "web",
            )
        except ProviderError as error:
            raise as_domain_error(error) from error
        priced = reply.priced
        usage = priced.result.usage
        return Response(
            s.AssistantTestReplySerializer(
                {
                    "reply": priced.result.text,
                    "model": priced.model.key,
                    "answer_mode": priced.model.answer_mode,
                    "fell_back": priced.fell_back,
                    "finish_reason": priced.result.finish_reason,
                    "usage": {
                        "prompt_tokens": usage.prompt_tokens,
                        "completion_tokens": usage.completion_tokens,
                        "total_tokens": usage.total_tokens,
                        "estimated": usage.estimated,
                    },
                    "cost": reply.cost,
                    "currency": priced.model.currency,
                    "latency_ms": reply.latency_ms,
                    "retrieval_query": reply.retrieval_query,
                    "sources": reply.sources,
                }
            ).data
        )
