"""The schema's error responses: what a client can be answered on each operation."""

import pytest

from tests.openapi import tenant_schema


def test_every_operation_documents_the_error_format():
    responses = tenant_schema()["paths"]["/api/v1/assistants"]["get"]["responses"]
    for status in ("400", "401", "403", "404", "429", "503"):
        assert responses[status]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }


def test_an_id_a_fixed_path_shadows_documents_405():
    """`/integrations/teams` answers only POST, so a GET of the integration "teams"
    is a 405 from it: documented on the id's path, and only there."""
    paths = tenant_schema()["paths"]
    shadowed = paths["/api/v1/integrations/{integration_id}"]
    assert "/api/v1/integrations/teams" in shadowed["get"]["responses"]["405"]["description"]
    assert "405" in shadowed["delete"]["responses"]
    assert "405" not in paths["/api/v1/assistants/{assistant_id}"]["get"]["responses"]
    assert "405" not in paths["/api/v1/integrations/teams"]["post"]["responses"]


@pytest.mark.django_db
def test_the_shadowed_405_is_the_error_format(org_a, client_for):
    response = client_for(org_a, "admin").get("/api/v1/integrations/teams")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
