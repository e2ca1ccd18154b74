"""Rendering prompt templates in a sandbox, with bounded output, work and time.

Template bodies are written by tenants and run in the platform's processes, so the
engine is Jinja2's ``SandboxedEnvironment`` with more taken away:

- attributes: only a short allow-list of harmless methods of text, lists and
  dictionaries (``upper``, ``split``, ``items``...); ``__class__``, ``mro``,
  ``format`` and every private name are refused (``RenderError`` naming it);
- filters and globals: an allow-list; ``join`` and ``replace`` check the size of what
  they would build before building it; ``center``, ``indent``, ``format``, ``lipsum``
  and the like are absent;
- work: every ``for`` loop goes through a guard that counts iterations (all loops of
  one render together) and checks the deadline; ``~``, ``+``, ``*``, ``**`` and ``%``
  refuse results past the size limit before computing them;
- output: rendered piece by piece and stopped past ``PROMPT_RENDER_MAX_CHARS``;
- time: ``PROMPT_RENDER_MAX_SECONDS``, checked at every loop iteration and output piece.

Variables are declared with a type; values are checked against the declarations
(``coerce_values``) and a problem is a field error naming the variable. A body is
checked at save time (``check_body``): its syntax, and every name it reads must be a
declared variable.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import functools
import json
import keyword
import math
import re
import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.conf import settings
from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, meta, nodes
from jinja2.compiler import CodeGenerator
from jinja2.exceptions import SecurityError, TemplateError, UndefinedError
from jinja2.runtime import LoopContext
from jinja2.sandbox import SandboxedEnvironment, safe_range
from jinja2.utils import Namespace

from core.errors import ValidationFailed

VARIABLE_TYPES = ("short_text", "long_text", "number", "choice", "boolean", "date")
SHORT_TEXT_MAX = 500
LONG_TEXT_MAX = 20_000
NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")
# Names every template may read besides its variables.
BUILTIN_NAMES = frozenset({"range", "dict", "namespace", "loop"})


class RenderError(Exception):
    """A template could not be rendered: a runtime error, a refused operation or a limit."""


def _limits() -> tuple[int, float, int]:
    return (
        settings.PROMPT_RENDER_MAX_CHARS,
        settings.PROMPT_RENDER_MAX_SECONDS,
        settings.PROMPT_RENDER_MAX_ITERATIONS,
    )


@dataclass
class _Budget:
    deadline: float
    iterations_left: int
    max_chars: int

    def tick(self) -> None:
        self.iterations_left -= 1
        if self.iterations_left < 0:
            raise RenderError("The template loops too many times.")
        if time.monotonic() > self.deadline:
            raise RenderError("The template took too long to render.")


_budget: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "prompt_render_budget", default=None
)


def _current_budget() -> _Budget:
    budget = _budget.get()
    if budget is None:  # rendered outside ``render_text`` (never in this code): defaults
        max_chars, seconds, iterations = _limits()
        budget = _Budget(time.monotonic() + seconds, iterations, max_chars)
        _budget.set(budget)
    return budget


def _size(value) -> int:
    if isinstance(value, str | list | tuple | dict):
        return len(value)
    return 0


def _check_size(size: int) -> None:
    if size > _current_budget().max_chars:
        raise RenderError("The template builds a value larger than the output limit.")


def _loop_guard(iterable):
    budget = _current_budget()
    for item in iterable:
        budget.tick()
        yield item


def _bounded_concat(parts) -> str:
    texts = [str(p) for p in parts]
    _check_size(sum(len(t) for t in texts))
    return "".join(texts)


def _bounded_join(value, separator: str = "", attribute=None) -> str:
    items = list(value)
    if attribute is not None:
        items = [_ENV.getattr(item, attribute) for item in items]
    texts = [str(i) for i in items]
    _check_size(sum(len(t) for t in texts) + len(str(separator)) * max(len(texts) - 1, 0))
    return str(separator).join(texts)


def _bounded_replace(value, old, new, count=None) -> str:
    text, old, new = str(value), str(old), str(new)
    occurrences = text.count(old) if old else len(text) + 1
    if count is not None:
        occurrences = min(occurrences, int(count))
    _check_size(len(text) + occurrences * max(len(new) - len(old), 0))
    return text.replace(old, new, -1 if count is None else int(count))


def _to_json(value, indent=None) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str, indent=indent, sort_keys=True)
    _check_size(len(text))
    return text


def _multiply(left, right):
    if isinstance(left, int | float) and isinstance(right, int | float):
        too_large = (
            isinstance(left, int)
            and isinstance(right, int)
            and left.bit_length() + right.bit_length() > 4096
        )
        if too_large:
            raise RenderError("The template computes a number that is too large.")
        return left * right
    count = right if isinstance(right, int) else left if isinstance(left, int) else 1
    _check_size(max(_size(left), _size(right)) * max(count, 0))
    return left * right


def _power(left, right):
    if isinstance(right, int | float) and abs(right) > 64:
        raise RenderError("The template computes a power that is too large.")
    if isinstance(left, int) and left.bit_length() > 64:
        raise RenderError("The template computes a power that is too large.")
    return left**right


def _add(left, right):
    if isinstance(left, str | list | tuple):
        _check_size(_size(left) + _size(right))
    return left + right


def _modulo(left, right):
    if isinstance(left, str):
        raise RenderError("The % operator on text is not available: use ~ to join text.")
    return left % right


_SAFE_METHODS = {
    str: frozenset(
        {
            "upper",
            "lower",
            "title",
            "capitalize",
            "strip",
            "lstrip",
            "rstrip",
            "split",
            "splitlines",
            "startswith",
            "endswith",
            "isdigit",
            "count",
            "find",
        }
    ),
    dict: frozenset({"items", "keys", "values", "get"}),
    list: frozenset({"index", "count"}),
    tuple: frozenset({"index", "count"}),
    dt.date: frozenset({"year", "month", "day", "isoformat", "weekday"}),
    dt.datetime: frozenset({"year", "month", "day", "hour", "minute", "isoformat", "weekday"}),
}

_SAFE_FILTERS = [
    "abs",
    "capitalize",
    "count",
    "default",
    "d",
    "dictsort",
    "first",
    "float",
    "int",
    "items",
    "last",
    "length",
    "list",
    "lower",
    "map",
    "max",
    "min",
    "reject",
    "rejectattr",
    "reverse",
    "round",
    "select",
    "selectattr",
    "sort",
    "string",
    "striptags",
    "sum",
    "title",
    "trim",
    "truncate",
    "unique",
    "upper",
    "urlencode",
    "wordcount",
    "batch",
    "slice",
    "attr",
    "groupby",
    "e",
    "escape",
]


class _GuardedCodeGenerator(CodeGenerator):
    """Joins with ``~`` go through the size guard."""

    def visit_Concat(self, node, frame) -> None:
        self.write("environment.bounded_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class PromptEnvironment(SandboxedEnvironment):
    code_generator_class = _GuardedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self):
        super().__init__(
            undefined=StrictUndefined,
            autoescape=False,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.filters = {name: self.filters[name] for name in _SAFE_FILTERS}
        self.filters.update(join=_bounded_join, replace=_bounded_replace, tojson=_to_json)
        self.globals = {
            "range": safe_range,
            "dict": dict,
            "namespace": Namespace,
            "__loop_guard": _loop_guard,
        }
        self.tests = {
            name: test
            for name, test in self.tests.items()
            if name not in {"callable", "sameas", "escaped"}
        }
        self.binop_table.update({"*": _multiply, "**": _power, "+": _add, "%": _modulo})
        self.bounded_concat = _bounded_concat

    def is_safe_attribute(self, obj, attr, value) -> bool:
        if isinstance(obj, Namespace | LoopContext):
            return not attr.startswith("_")
        for kind, allowed in _SAFE_METHODS.items():
            if type(obj) is kind:
                return attr in allowed
        return False

    def wrap_str_format(self, value):
        return None  # str.format is simply not on the allow-list

    def _parse(self, source, name, filename):
        template = super()._parse(source, name, filename)
        for loop in template.find_all(nodes.For):
            loop.iter = nodes.Call(nodes.Name("__loop_guard", "load"), [loop.iter], [], None, None)
        return template


_ENV = PromptEnvironment()


# -- variables --------------------------------------------------------------------


def check_variables(variables: list) -> list[dict]:
    """The declared variables, normalised; field errors under ``variables``."""
    if not isinstance(variables, list):
        raise ValidationFailed(fields={"variables": ["A list of variables is required."]})
    problems, normal, seen = [], [], set()
    for index, raw in enumerate(variables):
        if not isinstance(raw, dict):
            problems.append(f"Variable {index + 1}: an object is required.")
            continue
        name = raw.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name) or keyword.iskeyword(name):
            problems.append(
                f"Variable {index + 1}: the name must be lowercase letters, digits and _, "
                "starting with a letter."
            )
            continue
        if name in seen or name in BUILTIN_NAMES:
            problems.append(f"Variable '{name}' is declared twice or is a reserved name.")
            continue
        seen.add(name)
        kind = raw.get("type", "short_text")
        if kind not in VARIABLE_TYPES:
            problems.append(
                f"Variable '{name}': the type must be one of {', '.join(VARIABLE_TYPES)}."
            )
            continue
        choices = raw.get("choices") or []
        if kind == "choice" and (
            not isinstance(choices, list)
            or not choices
            or not all(isinstance(c, str) and c for c in choices)
            or len(choices) > 100
        ):
            problems.append(f"Variable '{name}': a choice needs a list of 1 to 100 options.")
            continue
        help_text = raw.get("help", "")
        if not isinstance(help_text, str) or len(help_text) > 300:
            problems.append(f"Variable '{name}': the help text is at most 300 characters.")
            continue
        required = raw.get("required", True)
        if not isinstance(required, bool):
            problems.append(f"Variable '{name}': required is true or false.")
            continue
        entry = {
            "name": name,
            "type": kind,
            "required": required,
            "default": None,
            "help": help_text,
            "choices": choices if kind == "choice" else [],
        }
        default = raw.get("default")
        if default is not None:
            try:
                entry["default"] = _json_value(_coerce(entry, default))
            except ValueError as error:
                problems.append(f"Variable '{name}': the default {error}")
                continue
        normal.append(entry)
    if problems:
        raise ValidationFailed(fields={"variables": problems})
    if len(normal) > 50:
        raise ValidationFailed(fields={"variables": ["At most 50 variables."]})
    return normal


def _json_value(value):
    return value.isoformat() if isinstance(value, dt.date) else value


def _coerce(variable: dict, value):
    kind = variable["type"]
    if kind in ("short_text", "long_text"):
        if not isinstance(value, str):
            raise ValueError("must be text.")
        limit = SHORT_TEXT_MAX if kind == "short_text" else LONG_TEXT_MAX
        if len(value) > limit:
            raise ValueError(f"must be at most {limit} characters.")
        return value
    if kind == "number":
        if isinstance(value, bool):
            raise ValueError("must be a number.")
        if isinstance(value, int | float):
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError("must be a finite number.")
            if isinstance(value, int) and abs(value) > 10**15:
                raise ValueError("is too large.")
            return value
        if isinstance(value, str):
            try:
                number = Decimal(value.strip())
            except InvalidOperation:
                raise ValueError("must be a number.") from None
            if not number.is_finite() or abs(number) > 10**15:
                raise ValueError("must be a finite number.")
            return int(number) if number == number.to_integral_value() else float(number)
        raise ValueError("must be a number.")
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        raise ValueError("must be true or false.")
    if kind == "choice":
        if value not in variable["choices"]:
            raise ValueError(f"must be one of: {', '.join(variable['choices'])}.")
        return value
    if kind == "date":
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value.strip())
            except ValueError:
                pass
        raise ValueError("must be a date (YYYY-MM-DD).")
    raise ValueError("has an unknown type.")  # pragma: no cover - checked at save


def coerce_values(variables: list[dict], values, *, field: str = "values") -> dict:
    """The values of a render, typed; field errors ``<field>.<name>`` otherwise."""
    if not isinstance(values, dict):
        raise ValidationFailed(fields={field: ["An object of variable values is required."]})
    declared = {v["name"]: v for v in variables}
    problems: dict[str, list[str]] = {}
    for name in values:
        if name not in declared:
            problems[f"{field}.{name}"] = [f"Unknown variable '{name}'."]
    typed = {}
    for name, variable in declared.items():
        value = values.get(name)
        if value is None or value == "":
            value = variable["default"]
        if value is None or value == "":
            if variable["required"]:
                problems[f"{field}.{name}"] = [f"'{name}' is required."]
            else:
                typed[name] = "" if variable["type"] in ("short_text", "long_text") else None
            continue
        try:
            typed[name] = _coerce(variable, value)
        except ValueError as error:
            problems[f"{field}.{name}"] = [f"'{name}' {error}"]
    if problems:
        raise ValidationFailed(fields=problems)
    return typed


# -- bodies -------------------------------------------------------------------------


def names_read(body: str) -> set[str]:
    """The names a body reads (TemplateSyntaxError when it does not parse)."""
    return set(meta.find_undeclared_variables(_ENV.parse(body))) - {"__loop_guard"}


def check_body(body: str, variables: list[dict], *, field: str = "body") -> None:
    """Save-time check: the body parses and reads only declared variables."""
    if len(body) > settings.PROMPT_BODY_MAX_CHARS:
        raise ValidationFailed(
            fields={field: [f"At most {settings.PROMPT_BODY_MAX_CHARS} characters."]}
        )
    try:
        used = names_read(body)
    except TemplateSyntaxError as error:
        raise ValidationFailed(
            fields={field: [f"Syntax error on line {error.lineno}: {error.message}"]}
        ) from None
    unknown = sorted(used - {v["name"] for v in variables} - BUILTIN_NAMES)
    if unknown:
        raise ValidationFailed(
            fields={
                field: [f"Unknown variable '{name}': declare it or remove it." for name in unknown]
            }
        )


@functools.lru_cache(maxsize=512)
def _compiled(body: str):
    """Compiling is most of a small render's cost; a compiled template holds no state of
    a render (the budget is per render, in a context variable), so it is reused."""
    return _ENV.from_string(body)


@functools.lru_cache(maxsize=512)
def _compiled_expression(expression: str):
    """A condition's expression, compiled once per text (like ``_compiled``)."""
    return _ENV.compile_expression(expression, undefined_to_none=False)


def render_text(body: str, context: dict) -> str:
    """Render ``body`` with ``context`` within the limits; ``RenderError`` otherwise."""
    max_chars, seconds, iterations = _limits()
    budget = _Budget(time.monotonic() + seconds, iterations, max_chars)
    token = _budget.set(budget)
    try:
        try:
            template = _compiled(body)
        except TemplateSyntaxError as error:
            raise RenderError(f"Syntax error on line {error.lineno}: {error.message}") from None
        parts, size = [], 0
        for piece in template.generate(**context):
            size += len(piece)
            if size > max_chars:
                raise RenderError(f"The output is longer than {max_chars} characters.")
            if time.monotonic() > budget.deadline:
                raise RenderError("The template took too long to render.")
            parts.append(piece)
        return "".join(parts)
    except RenderError:
        raise
    except SecurityError as error:
        raise RenderError(f"Refused: {error}") from None
    except UndefinedError as error:
        raise RenderError(str(error)) from None
    except (TemplateError, ArithmeticError, TypeError, ValueError, LookupError) as error:
        raise RenderError(f"The template failed: {error}") from None
    except (RecursionError, MemoryError):
        raise RenderError("The template is too complex to render.") from None
    finally:
        _budget.reset(token)


def evaluate_expression(expression: str, context: dict):
    """A Jinja expression (``x > 3 and y == 'a'``) under the same sandbox and limits."""
    max_chars, seconds, iterations = _limits()
    token = _budget.set(_Budget(time.monotonic() + seconds, iterations, max_chars))
    try:
        try:
            compiled = _compiled_expression(expression)
        except TemplateSyntaxError as error:
            raise RenderError(f"Syntax error: {error.message}") from None
        value = compiled(**context)
        if isinstance(value, Undefined):  # a missing name, or an attribute refused
            value._fail_with_undefined_error()
        return value
    except RenderError:
        raise
    except SecurityError as error:
        raise RenderError(f"Refused: {error}") from None
    except UndefinedError as error:
        raise RenderError(str(error)) from None
    except (TemplateError, ArithmeticError, TypeError, ValueError, LookupError) as error:
        raise RenderError(f"The expression failed: {error}") from None
    except (RecursionError, MemoryError):
        raise RenderError("The expression is too complex.") from None
    finally:
        _budget.reset(token)


def check_expression(expression: str) -> None:
    """Parse-only check (TemplateSyntaxError -> ValueError with the message)."""
    try:
        _ENV.compile_expression(expression)
    except TemplateSyntaxError as error:
        raise ValueError(f"Syntax error: {error.message}") from None


def render_prompt(*, body: str, variables: list[dict], values: dict, field: str = "values") -> str:
    """A template version's body with checked values: field errors for the values,
    ``ValidationFailed`` on ``body`` when rendering itself fails."""
    typed = coerce_values(variables, values, field=field)
    try:
        return render_text(body, typed)
    except RenderError as error:
        raise ValidationFailed(fields={"body": [str(error)]}) from None
