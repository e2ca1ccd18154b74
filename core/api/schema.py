"""OpenAPI post-processing: document the one error format on every operation."""

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


def add_error_responses(result, generator, request, public):
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    ref = {"$ref": "#/components/schemas/Error"}
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            for status, description in ERROR_RESPONSES.items():
                responses.setdefault(
                    status,
                    {"description": description, "content": {"application/json": {"schema": ref}}},
                )
    return result
