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
