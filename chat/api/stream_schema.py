"""The chat stream's Server-Sent Events, declared in the OpenAPI schema.

An SSE response is a text stream: OpenAPI 3.0 cannot say which JSON each ``data:`` line
holds. The payload of every event (what ``chat.streaming`` and the history "ask" stream
send) is a serializer here, and ``add_stream_event_components`` (a drf-spectacular
post-processing hook) puts them in ``components.schemas`` as ``ChatStreamEvents`` (one
property per event name), so the dashboard's TypeScript types of the stream are
generated from the server's code (frontend/src/api/stream.ts) instead of written by hand.
The operations' ``text/event-stream`` responses stay ``string`` (what the bytes are).
"""

from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers
from rest_framework.views import APIView

from chat.api.serializers import OmittedSerializer, SourceSerializer


class ChatSessionEventSerializer(serializers.Serializer):
    session_id = serializers.UUIDField()
    title = serializers.CharField(allow_blank=True)
    user_message_id = serializers.UUIDField()
    message_id = serializers.UUIDField()
    answer_mode = serializers.CharField()


class ChatDeltaEventSerializer(serializers.Serializer):
    text = serializers.CharField(allow_blank=True)


class ChatSourcesEventSerializer(serializers.Serializer):
    sources = SourceSerializer(many=True)
    omitted = OmittedSerializer(
        many=True, help_text="Attached files' text left out of the prompt (its size limit)."
    )


class ChatUsageEventSerializer(serializers.Serializer):
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=14, decimal_places=8, coerce_to_string=True)
    model = serializers.CharField()
    provider = serializers.CharField()
    time_to_first_token_ms = serializers.IntegerField(allow_null=True)
    latency_ms = serializers.IntegerField(allow_null=True)


class ChatDoneEventSerializer(serializers.Serializer):
    message_id = serializers.UUIDField()
    status = serializers.CharField()


class ChatErrorEventSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class ChatStreamEventsSerializer(serializers.Serializer):
    """Event name -> its ``data`` (an SSE frame is ``event: <name>`` + ``data: <JSON>``)."""

    session = ChatSessionEventSerializer(help_text="First: the conversation and message ids.")
    delta = ChatDeltaEventSerializer(help_text="A piece of the answer's text.")
    sources = ChatSourcesEventSerializer(help_text="The numbered sources, after the text.")
    usage = ChatUsageEventSerializer(help_text="Tokens, cost and timing of the answer.")
    done = ChatDoneEventSerializer(help_text="Last event of a complete answer.")
    error = ChatErrorEventSerializer(help_text="Last event when the answer failed.")


EVENT_SERIALIZERS = {"ChatStreamEvents": ChatStreamEventsSerializer}


def add_stream_event_components(result, generator, request, public):
    """drf-spectacular post-processing hook: the stream events as schema components."""
    schema = AutoSchema()
    schema.registry = generator.registry
    schema.method = "GET"  # read shapes (COMPONENT_SPLIT_REQUEST names them without "Request")
    schema.path = ""
    view = APIView()  # serializers are resolved in a view's context; any view does
    view.request = None
    view.format_kwarg = None
    schema.view = view
    components = result.setdefault("components", {}).setdefault("schemas", {})
    for serializer in EVENT_SERIALIZERS.values():
        schema.resolve_serializer(serializer, "response")
    for component in generator.registry._components.values():
        if component.type == "schemas" and component.name not in components:
            components[component.name] = component.schema
    return result
