import json
from decimal import Decimal

import pytest
from django.core.management import call_command
from django_tenants.utils import schema_context

from assistants import gateway
from assistants.catalog.models import AIModel
from assistants.catalog.services import FIXTURE, ai_models_sync
from assistants.providers.base import Usage
from billing.models import UsageRecord
from tests.factories import catalog_model


@pytest.mark.django_db
class TestSync:
    def test_fixture_has_every_provider_and_local_models_are_free(self):
        providers = set(AIModel.objects.values_list("provider", flat=True))
        assert providers == {"openai", "anthropic", "google", "openai_compatible", "local"}
        for model in AIModel.objects.filter(provider="local"):
            assert model.input_price_per_million == model.output_price_per_million == 0
        assert catalog_model("local/all-minilm-l6-v2").embedding_dimensions == 384

    def test_sync_is_idempotent(self, capsys):
        call_command("sync_ai_models")
        assert "0 created, 0 updated" in capsys.readouterr().out

    def test_a_price_change_leaves_recorded_costs_alone(self, org_a, tmp_path):
        # given: a call charged at today's price
        model = catalog_model("openai/gpt-4o-mini")
        with schema_context(org_a.slug):
            record = gateway._record_usage(
                model=model,
                usage=Usage.of(1_000_000, 1_000_000),
                kind="chat",
                context=gateway.UsageContext(organization=org_a.organization),
            )
        assert record.cost == Decimal("0.750000")

        # when: the provider doubles the price and the catalog is synced
        data = json.loads(FIXTURE.read_text())
        for entry in data["models"]:
            if entry["model_id"] == "gpt-4o-mini":
                entry["input_price_per_million"] = "0.30"
        changed = tmp_path / "models.json"
        changed.write_text(json.dumps(data))
        report = ai_models_sync(path=changed)

        # then: the catalog has the new price, the recorded usage the old one
        assert report.updated == 1
        assert catalog_model("openai/gpt-4o-mini").input_price_per_million == Decimal("0.30")
        record = UsageRecord.objects.get(pk=record.pk)
        assert record.cost == Decimal("0.750000")
        assert record.input_price_per_million == Decimal("0.15")

    def test_retire_missing_marks_models_unavailable_without_deleting(self, tmp_path):
        data = json.loads(FIXTURE.read_text())
        data["models"] = [m for m in data["models"] if m["model_id"] != "gpt-4o"]
        path = tmp_path / "models.json"
        path.write_text(json.dumps(data))
        assert ai_models_sync(path=path, retire_missing=True).retired == 1
        assert catalog_model("openai/gpt-4o").is_available is False


@pytest.mark.django_db
class TestModelsAPI:
    def test_lists_available_models_with_prices_and_capabilities(self, org_a, client_for):
        body = client_for(org_a, "viewer").get("/api/v1/models", {"page_size": 100}).json()
        by_id = {m["id"]: m for m in body["results"]}
        assert by_id["openai/gpt-4o-mini"]["input_price_per_million"] == "0.150000"
        assert by_id["local/extractive"]["answer_mode"] == "extractive"
        assert by_id["anthropic/claude-sonnet-4-5"]["answer_mode"] == "llm"

    def test_filters_by_capability(self, org_a, client_for):
        body = (
            client_for(org_a, "viewer").get("/api/v1/models", {"capability": "embeddings"}).json()
        )
        assert body["count"] >= 4
        assert all("embeddings" in m["capabilities"] for m in body["results"])
