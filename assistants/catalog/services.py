"""Writes to the model catalog."""

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from django.db import transaction

from assistants.catalog.models import AIModel, Capability, Provider

FIXTURE = Path(__file__).parent / "fixtures" / "ai_models.json"
_DEFAULTS = {
    "description": "",
    "context_window": 0,
    "max_output_tokens": None,
    "embedding_dimensions": None,
    "input_price_per_million": "0",
    "output_price_per_million": "0",
    "currency": "USD",
    "supports_temperature": True,
    "is_extractive": False,
    "is_available": True,
    "deprecation_date": None,
}


@dataclass(frozen=True)
class SyncReport:
    created: int
    updated: int
    unchanged: int
    retired: int


def _validate(entry: dict) -> None:
    if entry["provider"] not in Provider.values:
        raise ValueError(f"{entry['model_id']}: unknown provider {entry['provider']!r}")
    unknown = set(entry["capabilities"]) - set(Capability.values)
    if unknown:
        raise ValueError(f"{entry['model_id']}: unknown capabilities {sorted(unknown)}")


@transaction.atomic
def ai_models_sync(*, path: Path = FIXTURE, retire_missing: bool = False) -> SyncReport:
    """Create or update catalog rows from the fixture, keyed by (provider, model_id).

    Price changes apply to future calls only: every usage row stores the unit
    prices it was charged at. Models missing from the fixture are marked
    unavailable with ``retire_missing`` (never deleted: assistants refer to them).
    """
    entries = json.loads(path.read_text())["models"]
    created = updated = unchanged = 0
    seen = set()
    for raw in entries:
        _validate(raw)
        entry = {**_DEFAULTS, **raw}
        for price in ("input_price_per_million", "output_price_per_million"):
            entry[price] = Decimal(str(entry[price]))
        key = (entry.pop("provider"), entry.pop("model_id"))
        seen.add(key)
        model = AIModel.objects.filter(provider=key[0], model_id=key[1]).first()
        if model is None:
            AIModel.objects.create(provider=key[0], model_id=key[1], **entry)
            created += 1
            continue
        changed = {f: v for f, v in entry.items() if getattr(model, f) != v}
        if changed:
            for field, value in changed.items():
                setattr(model, field, value)
            model.save()
            updated += 1
        else:
            unchanged += 1
    retired = 0
    if retire_missing:
        for model in AIModel.objects.filter(is_available=True):
            if (model.provider, model.model_id) not in seen:
                model.is_available = False
                model.save(update_fields=["is_available", "updated_at"])
                retired += 1
    return SyncReport(created, updated, unchanged, retired)
