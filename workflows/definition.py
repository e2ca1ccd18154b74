"""A workflow's definition: its steps, settings, input schema and triggers, checked
before publish. Every problem is a field error naming the step and field
(``steps.2.url``), so the builder can show it next to the control.

Templates in step fields read ``input`` (the run's input), ``steps`` (earlier steps'
outputs, by key) and ``run`` (id, started_at); a step may only read steps before it.
"""

from __future__ import annotations

import re
import zoneinfo

from croniter import croniter
from jinja2 import TemplateSyntaxError, nodes

from core.errors import ValidationFailed
from prompts import rendering

STEP_TYPES = (
    "prompt",
    "retrieve",
    "ask_assistant",
    "condition",
    "transform",
    "http_request",
    "save_document",
    "notify",
    "approval",
)
# Steps with an effect outside the run: sent with an idempotency key, never repeated
# once finished.
SIDE_EFFECTS = ("http_request", "notify", "save_document")
TRIGGER_EVENTS = (
    "document.completed",
    "document.failed",
    "conversation.ended",
    "conversation.imported",
)
KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
CONTEXT_NAMES = {"input", "steps", "run"} | rendering.BUILTIN_NAMES
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
MAX_STEPS = 50
DEFAULT_RETRIES = {"prompt": 2, "ask_assistant": 1, "retrieve": 1, "http_request": 2, "notify": 2}

# Per type: {field: (kind, required)}; kind "template" is rendered with the context.
FIELDS: dict[str, dict[str, tuple[str, bool]]] = {
    "prompt": {
        "template_id": ("id", True),
        "version": ("int", False),
        "values": ("template_map", False),
        "model": ("text", False),
        "assistant_id": ("id", False),
    },
    "retrieve": {
        "query": ("template", True),
        "collection_ids": ("id_list", True),
        "top_k": ("int", False),
        # only documents added in the last N days ("last week's documents": 7)
        "since_days": ("number", False),
    },
    "ask_assistant": {"assistant_id": ("id", True), "message": ("template", True)},
    "condition": {"expression": ("expression", True), "else_goto": ("text", False)},
    "transform": {"template": ("template", True), "output": ("text", False)},
    "http_request": {
        "method": ("text", True),
        "url": ("template", True),
        "headers": ("template_map", False),
        "body": ("template", False),
    },
    "save_document": {
        "collection_id": ("id", True),
        "title": ("template", True),
        "text": ("template", True),
    },
    # target "email" (the default: to + subject) or a registered notification channel
    # ("slack", "teams": core.notifications) with its integration and channel.
    "notify": {
        "target": ("text", False),
        "to": ("template_list", False),
        "subject": ("template", False),
        "body": ("template", True),
        "integration_id": ("id", False),
        "channel_id": ("text", False),
    },
    "approval": {"message": ("template", False), "timeout_hours": ("number", False)},
}
COMMON = {"key", "type", "name", "retries", "timeout_seconds"}


def _steps_read(source: str, *, expression: bool = False) -> set[str]:
    """The step keys a template reads as ``steps.KEY`` or ``steps['KEY']``."""
    env = rendering._ENV
    tree = env.parse(f"{{{{ {source} }}}}" if expression else source)
    keys = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        if isinstance(node.node, nodes.Name) and node.node.name == "steps":
            if isinstance(node, nodes.Getattr):
                keys.add(node.attr)
            elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                keys.add(node.arg.value)
    return keys


def _check_template(source, where: str, earlier: set[str], problems: dict, *, expression=False):
    if not isinstance(source, str):
        problems[where] = ["Text is required."]
        return
    try:
        if expression:
            rendering.check_expression(source)
            names = rendering.names_read(f"{{{{ {source} }}}}")
        else:
            names = rendering.names_read(source)
        unknown = sorted(names - CONTEXT_NAMES)
        if unknown:
            problems[where] = [
                f"Unknown name '{n}': use input.<field>, steps.<key>.<output> or run."
                for n in unknown
            ]
            return
        later = sorted(_steps_read(source, expression=expression) - earlier)
        if later:
            problems[where] = [
                f"Step '{k}' is not an earlier step: a step reads only the steps before it."
                for k in later
            ]
    except (TemplateSyntaxError, ValueError) as error:
        message = getattr(error, "message", None) or str(error)
        problems[where] = [f"Syntax error: {message}"]


def _check_field(kind, value, where, earlier, problems):
    if kind == "template":
        _check_template(value, where, earlier, problems)
    elif kind == "expression":
        _check_template(value, where, earlier, problems, expression=True)
    elif kind == "template_map":
        if not isinstance(value, dict) or len(value) > 50:
            problems[where] = ["An object of up to 50 names and texts is required."]
            return
        for name, item in value.items():
            if isinstance(item, str) and item.startswith("secret:"):
                continue
            _check_template(item, f"{where}.{name}", earlier, problems)
    elif kind == "template_list":
        if not isinstance(value, list) or not 0 < len(value) <= 20:
            problems[where] = ["A list of 1 to 20 texts is required."]
            return
        for n, item in enumerate(value):
            _check_template(item, f"{where}.{n}", earlier, problems)
    elif kind == "id":
        if not isinstance(value, str) or not re.fullmatch(r"[0-9a-fA-F-]{32,36}", value):
            problems[where] = ["An id is required."]
    elif kind == "id_list":
        if (
            not isinstance(value, list)
            or not 0 < len(value) <= 20
            or not all(
                isinstance(v, str) and re.fullmatch(r"[0-9a-fA-F-]{32,36}", v) for v in value
            )
        ):
            problems[where] = ["A list of 1 to 20 ids is required."]
    elif kind == "int":
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10_000:
            problems[where] = ["A whole number from 1 is required."]
    elif kind == "number":
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not 0 < value <= 24 * 30
        ):
            problems[where] = ["A positive number (at most 720) is required."]
    elif kind == "text" and (not isinstance(value, str) or len(value) > 200):
        problems[where] = ["Text (at most 200 characters) is required."]


def _check_step(step, index: int, earlier: set[str], keys_after: list[str], problems: dict):
    where = f"steps.{index}"
    if not isinstance(step, dict):
        problems[where] = ["A step is an object."]
        return None
    key, kind = step.get("key"), step.get("type")
    if not isinstance(key, str) or not KEY_RE.match(key):
        problems[f"{where}.key"] = ["A key of lowercase letters, digits and _ is required."]
        return None
    if key in earlier:
        problems[f"{where}.key"] = [f"The key '{key}' is used by an earlier step."]
    if kind not in STEP_TYPES:
        problems[f"{where}.type"] = [f"One of: {', '.join(STEP_TYPES)}."]
        return key
    spec = FIELDS[kind]
    for name in set(step) - COMMON - set(spec):
        problems[f"{where}.{name}"] = [f"Unknown field for a {kind} step."]
    for name, (field_kind, required) in spec.items():
        if name not in step or step[name] in (None, ""):
            if required:
                problems[f"{where}.{name}"] = ["This field is required."]
            continue
        _check_field(field_kind, step[name], f"{where}.{name}", earlier, problems)
    retries = step.get("retries")
    if retries is not None and (isinstance(retries, bool) or retries not in range(0, 6)):
        problems[f"{where}.retries"] = ["0 to 5."]
    timeout = step.get("timeout_seconds")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 1 <= timeout <= 600
    ):
        problems[f"{where}.timeout_seconds"] = ["1 to 600 seconds."]
    if kind == "http_request" and str(step.get("method", "")).upper() not in HTTP_METHODS:
        problems[f"{where}.method"] = [f"One of: {', '.join(HTTP_METHODS)}."]
    if kind == "http_request" and isinstance(step.get("url"), str) and "{{" not in step["url"]:
        from core import outbound

        try:
            outbound.validate_url(step["url"])
        except Exception as error:  # outbound.InvalidURL or a ValidationError
            problems[f"{where}.url"] = [getattr(error, "message", None) or str(error)]
    if kind == "condition":
        target = step.get("else_goto") or "end"
        if target != "end" and target not in keys_after:
            problems[f"{where}.else_goto"] = ["A later step's key, or 'end'."]
    if kind == "transform" and step.get("output", "text") not in ("text", "json"):
        problems[f"{where}.output"] = ["'text' or 'json'."]
    if kind == "notify":
        _check_notify_target(step, where, problems)
    if kind == "prompt" and not (step.get("model") or step.get("assistant_id")):
        pass  # the template's model hint, checked when the version is pinned
    return key


NOTIFY_TARGETS = ("email", "slack", "teams")


def _check_notify_target(step: dict, where: str, problems: dict) -> None:
    """E-mail needs recipients and a subject; a chat target its integration and channel
    (that they are this organization's is checked at publish, ``services``)."""
    target = step.get("target") or "email"
    if target not in NOTIFY_TARGETS:
        problems[f"{where}.target"] = [f"One of: {', '.join(NOTIFY_TARGETS)}."]
        return
    required = ("to", "subject") if target == "email" else ("integration_id", "channel_id")
    for name in required:
        if step.get(name) in (None, "", []):
            problems.setdefault(f"{where}.{name}", ["This field is required."])
    refused = ("integration_id", "channel_id") if target == "email" else ("to",)
    for name in refused:
        if step.get(name) not in (None, "", []):
            problems[f"{where}.{name}"] = [f"Not used by a {target} notification."]


def check_triggers(triggers, problems: dict) -> dict:
    if triggers in (None, ""):
        return {}
    if not isinstance(triggers, dict):
        problems["triggers"] = ["An object is required."]
        return {}
    unknown = set(triggers) - {"schedule", "events", "webhook", "api"}
    for name in unknown:
        problems[f"triggers.{name}"] = ["Unknown trigger."]
    schedule = triggers.get("schedule")
    if schedule:
        if not isinstance(schedule, dict):
            problems["triggers.schedule"] = ["An object with cron and timezone is required."]
        else:
            cron = schedule.get("cron")
            if not isinstance(cron, str) or len(cron.split()) != 5 or not croniter.is_valid(cron):
                problems["triggers.schedule.cron"] = [
                    "A cron expression of five fields is required (e.g. '0 9 * * 1')."
                ]
            tz = schedule.get("timezone", "UTC")
            try:
                zoneinfo.ZoneInfo(tz)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
                problems["triggers.schedule.timezone"] = ["An IANA time zone (e.g. Europe/Paris)."]
    events = triggers.get("events") or []
    if not isinstance(events, list) or not set(events) <= set(TRIGGER_EVENTS):
        problems["triggers.events"] = [f"Any of: {', '.join(TRIGGER_EVENTS)}."]
    for flag in ("webhook", "api"):
        if flag in triggers and not isinstance(triggers[flag], bool):
            problems[f"triggers.{flag}"] = ["true or false."]
    return triggers


def check_definition(definition) -> dict:
    """The definition, normalised, or ``ValidationFailed`` with every problem."""
    if not isinstance(definition, dict):
        raise ValidationFailed(fields={"definition": ["An object is required."]})
    problems: dict[str, list[str]] = {}
    unknown = set(definition) - {"steps", "settings", "input_schema", "triggers"}
    for name in unknown:
        problems[name] = ["Unknown field."]
    steps = definition.get("steps")
    if not isinstance(steps, list) or not 0 < len(steps) <= MAX_STEPS:
        problems["steps"] = [f"1 to {MAX_STEPS} steps are required."]
        steps = []
    input_schema = definition.get("input_schema") or []
    try:
        input_schema = rendering.check_variables(input_schema)
    except ValidationFailed as error:
        problems["input_schema"] = error.fields.get("variables", ["Invalid."])
    settings = definition.get("settings") or {}
    if not isinstance(settings, dict) or set(settings) - {"run_timeout_seconds"}:
        problems["settings"] = ["Only run_timeout_seconds may be set."]
        settings = {}
    timeout = settings.get("run_timeout_seconds")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int) or not 1 <= timeout <= 86400
    ):
        problems["settings.run_timeout_seconds"] = ["1 to 86400 seconds."]
    triggers = check_triggers(definition.get("triggers"), problems)
    earlier: set[str] = set()
    all_keys = [s.get("key") for s in steps if isinstance(s, dict)]
    for index, step in enumerate(steps):
        key = _check_step(step, index, earlier, all_keys[index + 1 :], problems)
        if key:
            earlier.add(key)
    if problems:
        raise ValidationFailed("The workflow is not valid.", fields=problems)
    return {
        "steps": steps,
        "settings": settings,
        "input_schema": input_schema,
        "triggers": triggers,
    }
