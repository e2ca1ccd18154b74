"""OpenAPI post-processing: document the one error format on every operation."""

import re

_PARAMETER = re.compile(r"^\{[^}]+\}$")

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "fields"],
            "properties": {
                "code": {"type": "string", "example": "not_found"},
                "message": {"type": "string"},
                "fields": {
                    "type": "object",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                },
            },
        }
    },
}

ERROR_RESPONSES = {
    "400": "Invalid input (`fields` names each invalid field), or a body that does not parse.",
    "401": "Not authenticated (no session, or an invalid, expired or revoked API key).",
    "402": "A monthly quota of the organization's plan is used up (`quota_exceeded`).",
    "403": "Authenticated, but your role (or the API key's scopes) does not allow this.",
    "404": "Not found (also for objects of other organizations).",
    "409": "Conflicts with the current state (e.g. removing the last admin).",
    "413": "The request body is larger than the limit (`payload_too_large`).",
    "415": "The request body's content type is not accepted.",
    "429": "Too many requests; see the Retry-After header.",
    "503": (
        "A service the platform depends on (database, Redis) is unavailable "
        "(`service_unavailable`); see the Retry-After header."
    ),
}


# A path parameter can take the value of a fixed sibling path (`/integrations/{id}` and
# `/integrations/teams`): the fixed path answers, and refuses the methods it lacks.
SHADOWED_RESPONSE = (
    "405",
    "The id given is one of the collection's fixed paths (e.g. `{literal}`), which does "
    "not answer this method.",
)


def _shadowing_literal(path: str, paths) -> str | None:
    """A fixed path that the parameterised ``path`` also matches, if one exists."""
    segments = path.strip("/").split("/")
    for other in paths:
        others = other.strip("/").split("/")
        if other == path or len(others) != len(segments):
            continue
        pairs = [(a, b) for a, b in zip(segments, others, strict=True) if a != b]
        if pairs and all(_PARAMETER.match(a) and not _PARAMETER.match(b) for a, b in pairs):
            return other
    return None


def add_error_responses(result, generator, request, public):
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    ref = {"$ref": "#/components/schemas/Error"}
    paths = result.get("paths", {})
    for path, path_item in paths.items():
        errors = dict(ERROR_RESPONSES)
        if literal := _shadowing_literal(path, paths):
            status, description = SHADOWED_RESPONSE
            errors[status] = description.format(literal=literal)
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            for status, description in errors.items():
                responses.setdefault(
                    status,
                    {"description": description, "content": {"application/json": {"schema": ref}}},
                )
    return result
