"""Builders of workflows for this app's tests (steps as the builder saves them)."""

from audit.services import Actor
from workflows import services
from workflows.models import Trigger


def transform(key: str, template: str, **extra) -> dict:
    return {"key": key, "type": "transform", "template": template, **extra}


def http(key: str, url: str, method: str = "POST", **extra) -> dict:
    return {"key": key, "type": "http_request", "method": method, "url": url, **extra}


def published(
    org, steps: list[dict], *, name="Flow", input_schema=None, triggers=None, settings=None
):
    """A published workflow of ``org`` (call inside its schema)."""
    workflow, _ = services.workflow_create(
        user=org.admin,
        name=name,
        draft={
            "steps": steps,
            "input_schema": input_schema or [],
            "triggers": triggers or {},
            "settings": settings or {},
        },
    )
    services.workflow_publish(workflow=workflow, user=org.admin, actor=Actor(user=org.admin))
    workflow.refresh_from_db()
    return workflow


def start(org, workflow, input=None, trigger=Trigger.MANUAL):
    return services.run_start(workflow=workflow, trigger=trigger, input=input or {}, user=org.admin)
