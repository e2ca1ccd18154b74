"""The chat stream's events as the OpenAPI schema declares them (chat/api/stream_schema.py):
what a real streamed answer sends must match the generated types the dashboard uses."""

import jsonschema
import pytest
from drf_spectacular.generators import SchemaGenerator

from tests.helpers import parse_sse, stream_body


@pytest.fixture(scope="module")
def openapi():
    return SchemaGenerator().get_schema(request=None, public=True)


def _json_schema(node):
    """OpenAPI 3.0's ``nullable: true`` as JSON Schema's ``"null"`` type."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _json_schema(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    elif node.get("nullable"):
        out = {"anyOf": [out, {"type": "null"}]}
    return out


def _validator(openapi, name):
    # The components refer to each other: resolve "#/components/..." against the schema.
    components = _json_schema(openapi["components"])
    return jsonschema.Draft202012Validator(
        {**components["schemas"][name], "components": components}
    )


def test_every_event_name_has_a_declared_payload(openapi):
    events = openapi["components"]["schemas"]["ChatStreamEvents"]["properties"]
    assert set(events) == {"session", "delta", "sources", "usage", "done", "error"}


@pytest.mark.django_db
def test_a_streamed_answer_matches_the_declared_events(openapi, org_a, client_for, assistant):
    # given a real streamed answer (the local extractive model, with sources)
    response = client_for(org_a, "member").post(
        "/api/v1/chat",
        {"assistant": str(assistant.id), "message": "How long does a refund take?"},
        format="json",
    )
    events = parse_sse(stream_body(response))
    declared = openapi["components"]["schemas"]["ChatStreamEvents"]["properties"]
    # then each event's data validates against its component, required fields included
    assert {name for name, _ in events} == {"session", "delta", "sources", "usage", "done"}
    for name, data in events:
        component = declared[name]["allOf"][0]["$ref"].rsplit("/", 1)[1]
        errors = list(_validator(openapi, component).iter_errors(data))
        assert not errors, f"{name}: {[(list(e.path), e.message) for e in errors]}"
    # and a payload missing a field the client reads is refused (the check can fail)
    usage = dict(next(data for name, data in events if name == "usage"))
    del usage["total_tokens"]
    assert list(_validator(openapi, "ChatUsageEvent").iter_errors(usage))
