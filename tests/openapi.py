"""The API's own OpenAPI schema, generated in-process, for the generated suites."""

import re
from functools import cache

from drf_spectacular.generators import SchemaGenerator

HTTP_METHODS = ("get", "post", "put", "patch", "delete")


@cache
def tenant_schema() -> dict:
    """The schema of the organization hosts (every /api/v1 endpoint of a tenant)."""
    return SchemaGenerator(urlconf="config.urls").get_schema(request=None, public=True)


def operations() -> list[tuple[str, str]]:
    return [
        (method.upper(), path)
        for path, item in sorted(tenant_schema()["paths"].items())
        for method in HTTP_METHODS
        if method in item
    ]


def path_params(path: str) -> list[str]:
    return re.findall(r"{(\w+)}", path)


# Ids whose list endpoint is not the parent path (e.g. messages are listed per session).
ID_SOURCES = {
    "message_id": "/api/v1/chat/sessions/{session_id}/messages",
    "chunk_id": "/api/v1/collections/{collection_id}/documents/{document_id}/chunks",
    "delivery_id": "/api/v1/webhooks/endpoints/{endpoint_id}/deliveries",
    "public_id": "/api/v1/widgets",  # the widget visitor API names widgets by public id
}
# Parameters whose value is another field of the listed object than its ``id``.
ID_FIELDS = {"public_id": "public_id"}


def fill_path(path: str, values: dict) -> str:
    for name, value in values.items():
        path = path.replace("{" + name + "}", str(value))
    return path


def harvest_ids(client, path: str) -> dict:
    """Ids of the client's organization's objects for each path parameter, read from
    its own list endpoints (the first of each list)."""
    values = {}
    for param in path_params(path):
        if param in ID_SOURCES:
            template = ID_SOURCES[param]
            for name, value in harvest_ids(client, template).items():
                values.setdefault(name, value)
            list_path = fill_path(template, values)
        else:
            list_path = fill_path(path[: path.index("{" + param + "}")].rstrip("/"), values)
        response = client.get(list_path, {"page_size": 100})
        results = response.json().get("results") if response.status_code == 200 else None
        assert results, (
            f"Cannot find an id for {{{param}}} in {path}: GET {list_path} gave "
            f"{response.status_code}. Seed one in tests.factories.seed_every_kind()."
        )
        values[param] = results[0][ID_FIELDS.get(param, "id")]
    return values


def list_paths() -> list[str]:
    """The paginated GET endpoints (their 200 answer has ``results``)."""
    paths = []
    for path, item in sorted(tenant_schema()["paths"].items()):
        get = item.get("get") or {}
        schema = get.get("responses", {}).get("200", {}).get("content", {})
        ref = schema.get("application/json", {}).get("schema", {}).get("$ref", "")
        if ref.rsplit("/", 1)[-1].startswith("Paginated"):
            paths.append(path)
    return paths
