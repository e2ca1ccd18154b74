"""What a visitor's browser calls: ``/widget.js`` and ``/api/v1/widget/<public id>/...``.

Anonymous and cross-origin by design, so these are not organization views: each
request is checked here against the widget's allowed domains (``services``), answered
with CORS headers for that origin only, and never reads or sets a cookie. They are in
the OpenAPI schema under their own tag, ``widget-visitor``, with their credential
(``widgetVisitor``: the page's Origin or Referer, and the visitor's signed token), so
the generated isolation and fuzz suites walk them too; their own tests are in
``integrations/widget/tests``.
"""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpResponse
from django.views.decorators.http import require_GET
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.authentication import BaseAuthentication
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import UserRateThrottle

from assistants.providers.errors import ProviderError, as_domain_error
from audit.services import Actor, client_ip
from chat import access, streaming
from chat import services as chat_services
from chat.api.views import PreparedStream, StreamingErrorsAsJSON, sse_response
from chat.models import Message, MessageStatus, Role
from core import errors
from core.api.parsers import JSONParser
from core.api.views import PublicAPIView
from core.connections import release_connection
from files import uploads
from integrations.widget import services

SCRIPT = Path(__file__).with_name("widget.js")
TOKEN_HEADER = "X-Widget-Token"  # noqa: S105 (a header name)


@require_GET
def widget_script(request):
    """The loader every allowed site includes; public, cacheable, the same for all."""
    response = HttpResponse(SCRIPT.read_bytes(), content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=300"
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    response["Access-Control-Allow-Origin"] = "*"
    return response


class WidgetVisitorAuthentication(BaseAuthentication):
    """Names the visitor's credential for the schema; authenticates nobody (a visitor
    is anonymous). The checks are ``WidgetView.initial``'s: the widget of the URL on
    this organization's host, the page's Origin/Referer among its allowed domains, and
    for a conversation the visitor's signed token."""

    def authenticate(self, request):
        return None


class WidgetVisitorScheme(OpenApiAuthenticationExtension):
    target_class = "integrations.widget.views.WidgetVisitorAuthentication"
    name = "widgetVisitor"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": TOKEN_HEADER,
            "description": (
                "The embeddable widget's visitors (browsers on the organization's allowed "
                "sites), anonymous: no cookie and no API key. Every request must carry an "
                "`Origin` (or `Referer`) naming one of the widget's allowed domains, on "
                "the host of the widget's organization; a conversation continues only "
                f"with the visitor's signed token (`{TOKEN_HEADER}`, returned by the chat "
                "endpoint), which names the widget, the visitor and the conversation. "
                "CORS headers are sent for that origin only."
            ),
        }

    # The token is optional (a first message has none: the schema lists anonymous
    # access too, as for every AllowAny view); the Origin is not, which OpenAPI's
    # security cannot say: the description does.


VISITOR_TAGS = ["widget-visitor"]
PUBLIC_ID = OpenApiParameter(
    "public_id", str, OpenApiParameter.PATH, description="The widget's `data-widget` id."
)
ORIGIN = OpenApiParameter(
    "Origin",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="The embedding page's origin; one of it or `Referer` is required.",
)


class _Input(serializers.Serializer):
    message = serializers.CharField(max_length=100_000, trim_whitespace=True)
    token = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    attachments = serializers.ListField(
        child=serializers.UUIDField(),
        required=False,
        max_length=10,
        help_text=(
            "Ids of the visitor's own files (uploaded through `files` with the same token) "
            "to attach to the question; only when the widget takes files."
        ),
    )


class _UploadInput(serializers.Serializer):
    file = serializers.FileField(help_text="One document, table or image (as the chat's).")
    token = serializers.CharField(max_length=1000, required=False, allow_blank=True)


class _UploadOutput(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    size = serializers.IntegerField()
    kind = serializers.CharField()
    status = serializers.CharField()
    token = serializers.CharField(help_text="The visitor's token (also in `X-Widget-Token`).")


class _Feedback(serializers.Serializer):
    message_id = serializers.UUIDField()
    rating = serializers.ChoiceField(choices=[1, -1], allow_null=True)
    token = serializers.CharField(max_length=1000)


class _FeedbackOutput(serializers.Serializer):
    rating = serializers.ChoiceField(choices=[1, -1], allow_null=True)


class _ConfigOutput(serializers.Serializer):
    title = serializers.CharField()
    welcome_message = serializers.CharField(allow_blank=True)
    primary_color = serializers.CharField()
    text_color = serializers.CharField()
    position = serializers.CharField()
    suggested_questions = serializers.ListField(child=serializers.CharField())
    feedback_enabled = serializers.BooleanField()
    file_upload_enabled = serializers.BooleanField()
    show_sources = serializers.BooleanField()
    max_message_chars = serializers.IntegerField()


class _VisitorFile(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()


class _VisitorMessage(serializers.Serializer):
    id = serializers.UUIDField()
    role = serializers.CharField()
    content = serializers.CharField(allow_blank=True)
    sources = serializers.ListField(child=serializers.DictField())
    rating = serializers.IntegerField(allow_null=True)
    attachments = _VisitorFile(many=True, help_text="The files the question carried.")


class _MessagesOutput(serializers.Serializer):
    messages = _VisitorMessage(many=True)


def _visitor_throttles() -> list:
    """The platform's throttles less DRF's per-user one: a visitor is anonymous, and for
    an anonymous caller that one counts the same address as the anonymous throttle,
    under a looser limit (two more Redis round trips per request for nothing). The
    anonymous, API-key and organization limits apply as everywhere."""
    return [
        throttle
        for throttle in api_settings.DEFAULT_THROTTLE_CLASSES
        if not issubclass(throttle, UserRateThrottle)
    ]


class WidgetView(StreamingErrorsAsJSON, PublicAPIView):
    """Base: the widget of the URL, the page's origin checked, CORS for that origin."""

    authentication_classes = [WidgetVisitorAuthentication]

    def get_throttles(self):
        return [throttle() for throttle in _visitor_throttles()]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        organization = getattr(request, "tenant", None)
        if organization is None or organization.schema_name == "public":
            raise errors.NotFound()
        self.widget = services.widget_for_visitor(
            organization=organization, public_id=kwargs.get("public_id", "")
        )
        self.origin = services.request_origin(
            self.widget,
            origin=request.headers.get("Origin"),
            referer=request.headers.get("Referer"),
        )

    def options(self, request, *args, **kwargs):
        response = HttpResponse(status=204)
        response["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response["Access-Control-Allow-Headers"] = f"Content-Type, {TOKEN_HEADER}"
        response["Access-Control-Max-Age"] = "600"
        return response

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        origin = getattr(self, "origin", None)
        if origin:  # refused requests get no CORS header: the page cannot read them
            response["Access-Control-Allow-Origin"] = origin
            response["Access-Control-Expose-Headers"] = f"{TOKEN_HEADER}, Retry-After"
            response["Vary"] = "Origin"
            response["Cross-Origin-Resource-Policy"] = "cross-origin"
        response["Cache-Control"] = "no-store"
        return response

    def visitor(self, token: str | None = None) -> services.Visitor:
        return services.visitor_from_token(
            widget=self.widget, token=token or self.request.headers.get(TOKEN_HEADER)
        )


class WidgetConfigView(WidgetView):
    @extend_schema(
        tags=VISITOR_TAGS,
        operation_id="widget_visitor_config",
        parameters=[PUBLIC_ID, ORIGIN],
        responses=_ConfigOutput,
        description="What the bubble shows (title, colours, welcome, suggestions).",
    )
    def get(self, request, public_id):
        w = self.widget
        return Response(
            {
                "title": w.title,
                "welcome_message": w.welcome_message,
                "primary_color": w.primary_color,
                "text_color": w.text_color,
                "position": w.position,
                "suggested_questions": w.suggested_questions,
                "feedback_enabled": w.feedback_enabled,
                "file_upload_enabled": w.file_upload_enabled,
                "show_sources": w.show_sources,
                "max_message_chars": w.max_message_chars,
            }
        )


class WidgetMessagesView(WidgetView):
    """The visitor's conversation so far (continuity after a reload)."""

    @extend_schema(
        tags=VISITOR_TAGS,
        operation_id="widget_visitor_messages",
        parameters=[PUBLIC_ID, ORIGIN],
        responses=_MessagesOutput,
        description=(
            "The conversation the visitor's token names (at most 200 messages, the whole "
            "of a widget conversation: `max_conversation_messages` caps it); none without "
            "a token."
        ),
    )
    def get(self, request, public_id):
        visitor = self.visitor()
        if not visitor.session_id:
            return Response({"messages": []})
        caller = services.widget_caller(self.widget)
        try:
            session = access.access_session(caller=caller, session_id=visitor.session_id)
        except ObjectDoesNotExist:
            return Response({"messages": []})
        rows = (
            Message.objects.filter(session=session)
            .prefetch_related("attachments")
            .order_by("created_at")[:200]
        )
        return Response(
            {
                "messages": [
                    {
                        "id": str(m.id),
                        "role": m.role,
                        "content": m.content,
                        "sources": m.sources if self.widget.show_sources else [],
                        "rating": m.feedback_rating,
                        "attachments": [
                            {"id": str(f.id), "name": f.name} for f in m.attachments.all()
                        ],
                    }
                    for m in rows
                ]
            }
        )


class WidgetChatPrepareView(WidgetView):
    @extend_schema(
        tags=VISITOR_TAGS,
        operation_id="widget_visitor_chat",
        parameters=[PUBLIC_ID, ORIGIN],
        request=_Input,
        responses={
            (200, "text/event-stream"): OpenApiResponse(
                OpenApiTypes.STR,
                description=(
                    "The answer as Server-Sent Events (`session`, `delta`, `sources`, "
                    f"`usage`, `done`, or `error`); the `{TOKEN_HEADER}` response header "
                    "carries the visitor's token for the next message."
                ),
            )
        },
        description=(
            "A visitor's message to the widget's assistant (rate-limited per widget and "
            "per address, capped in length and per conversation)."
        ),
    )
    def post(self, request, public_id):
        data = _Input(data=request.data)
        data.is_valid(raise_exception=True)
        widget, message = self.widget, data.validated_data["message"]
        attachments = data.validated_data.get("attachments") or []
        if len(message) > widget.max_message_chars:
            raise errors.ValidationFailed(
                fields={"message": [f"Keep messages under {widget.max_message_chars} characters."]}
            )
        if attachments and not widget.file_upload_enabled:
            raise errors.PermissionDenied(
                "This widget does not take files.", code="file_upload_disabled"
            )
        services.rate_check(widget=widget, address=client_ip(request))
        visitor = self.visitor(data.validated_data.get("token"))
        # The visitor's files only (another visitor's id is an unknown file, 400).
        caller = services.widget_caller(widget, visitor)
        session_id = None
        if visitor.session_id:
            session = access.sessions_visible(caller=caller).filter(pk=visitor.session_id).first()
            if session is not None:
                if session.message_count >= widget.max_conversation_messages:
                    raise errors.Conflict(
                        "This conversation is long enough: start a new one.",
                        code="conversation_too_long",
                    )
                session_id = session.pk
        try:
            turn = chat_services.chat_prepare(
                organization=widget.organization,
                assistant_id=widget.assistant_id,
                message=message,
                user=None,
                session_id=session_id,
                caller=caller,
                channel="widget",
                attachments=attachments,
                # A new conversation names its visitor in the session's own INSERT.
                external_user_id=f"widget:{widget.pk}:{visitor.visitor_id}",
            )
        except ProviderError as error:
            raise as_domain_error(error) from error
        token = services.visitor_token(
            widget=widget,
            visitor=services.Visitor(
                visitor_id=visitor.visitor_id, session_id=str(turn.session.pk)
            ),
        )
        release_connection()
        response = PreparedStream(turn)
        response[TOKEN_HEADER] = token
        return response


class WidgetFileView(WidgetView):
    # JSON too, as the Files API: a JSON body is a 400 naming the missing file, not a 415.
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(
        tags=VISITOR_TAGS,
        operation_id="widget_visitor_file_upload",
        parameters=[PUBLIC_ID, ORIGIN],
        request={"multipart/form-data": _UploadInput},
        responses={201: _UploadOutput},
        description=(
            "A file the visitor attaches to their next question (`attachments` of `chat`), "
            "when the widget takes files (`file_upload_enabled`; else 403 "
            "`file_upload_disabled`). The chat composer's checks and limits: types by "
            "content (415), FILES_MAX_UPLOAD_BYTES (413), the organization's storage quota "
            "(402); read in the background. Rate-limited per widget and per address like "
            "messages. The file is the visitor's: only their token attaches it."
        ),
    )
    def post(self, request, public_id):
        if not self.widget.file_upload_enabled:  # before the body is looked at
            raise errors.PermissionDenied(
                "This widget does not take files.", code="file_upload_disabled"
            )
        data = _UploadInput(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        limit = settings.FILES_MAX_UPLOAD_BYTES
        if upload.size > limit:  # refused before a huge file is read into memory
            raise uploads.PayloadTooLarge(
                f"{upload.name} is {upload.size:,} bytes; the limit is {limit:,} bytes."
            )
        visitor = self.visitor(data.validated_data.get("token"))
        file = services.visitor_file_upload(
            widget=self.widget,
            visitor=visitor,
            name=upload.name,
            data=upload.read(),
            actor=Actor(ip_address=client_ip(request)),
        )
        token = services.visitor_token(widget=self.widget, visitor=visitor)
        body = {
            "id": str(file.id),
            "name": file.name,
            "size": file.size,
            "kind": file.kind,
            "status": file.status,
            "token": token,
        }
        response = Response(body, status=status.HTTP_201_CREATED)
        response[TOKEN_HEADER] = token
        return response


class WidgetFeedbackView(WidgetView):
    @extend_schema(
        tags=VISITOR_TAGS,
        operation_id="widget_visitor_feedback",
        parameters=[PUBLIC_ID, ORIGIN],
        request=_Feedback,
        responses=_FeedbackOutput,
        description="Thumbs up (1), down (-1) or cleared (null) on an answer of the "
        "visitor's own conversation.",
    )
    def post(self, request, public_id):
        if not self.widget.feedback_enabled:
            raise errors.PermissionDenied("Feedback is off for this widget.")
        data = _Feedback(data=request.data)
        data.is_valid(raise_exception=True)
        visitor = self.visitor(data.validated_data["token"])
        message = Message.objects.filter(
            pk=data.validated_data["message_id"],
            session_id=visitor.session_id,
            session__api_key_id=self.widget.pk,
            role=Role.ASSISTANT,
            status=MessageStatus.COMPLETE,
        ).first()
        if message is None:
            raise errors.NotFound()
        chat_services.message_feedback(message=message, rating=data.validated_data["rating"])
        return Response({"rating": data.validated_data["rating"]})


_prepare = WidgetChatPrepareView.as_view()
_STREAM_HEADERS = (
    TOKEN_HEADER,
    "Access-Control-Allow-Origin",
    "Access-Control-Expose-Headers",
    "Vary",
    "Cross-Origin-Resource-Policy",
)


@functools.wraps(_prepare)  # keeps cls and view_class: the schema documents the DRF view
async def widget_chat(request, *args, **kwargs):
    """The prepare step above in a thread, then the answer streamed on the event loop
    as the dashboard's (``chat.api.views.answering_view``), with the widget's headers
    (CORS, the visitor's token) carried over to the stream."""
    preparing = asyncio.ensure_future(sync_to_async(_prepare)(request, *args, **kwargs))
    try:
        response = await asyncio.shield(preparing)
    except asyncio.CancelledError:
        response = await preparing
        if isinstance(response, PreparedStream):
            await streaming.store_cancelled(response.turn)
        raise
    if not isinstance(response, PreparedStream):
        return response
    stream = sse_response(response.turn)
    for name in _STREAM_HEADERS:
        if name in response:
            stream[name] = response[name]
    stream["Cache-Control"] = "no-store"
    return stream


widget_chat.csrf_exempt = True
