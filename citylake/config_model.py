"""What every configuration model shares (配置模型): a strict, frozen pydantic base, and
:func:`validate_document`, which turns pydantic's list of errors into the one line the project
promises: the file, the entry, what is wrong (``quality/indicators.yaml: checks.phone.criticality:
Input should be 'error' or 'warning', got 'fatal'``).

The models beside each loader (citylake.sources.registry, citylake.schemas.standards,
citylake.quality.checks, citylake.quality.cross_source, citylake.catalog.declarations,
citylake.synthcity.config, citylake.lake.upkeep) describe the shape of their files; the JSON Schemas
editors check them with are generated from these models (citylake.config_files).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from citylake.configuration import ConfigurationError

M = TypeVar("M", bound=BaseModel)

# Strict: YAML gives native types, so a quoted number or a 1.0 where a whole number belongs is a
# mistake in the file, not something to coerce.
STRICT = ConfigDict(extra="forbid", frozen=True, strict=True)


class ConfigModel(BaseModel):
    """A configuration entry: unknown keys are errors (a typo would silently configure nothing),
    values of the wrong type are not coerced, and a loaded entry cannot change."""

    model_config = STRICT


def validate_document(model: type[M], data: Any, path: str | Path,
                      error: type[ValueError] = ConfigurationError) -> M:
    """``data`` (a YAML document read from ``path``) as ``model``; otherwise one ``error`` line naming
    ``path``, the entry and the problem (the first of pydantic's errors; the missing or unknown keys
    of that entry together)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise error(f"{path}: {error_line(exc, data)}") from None


def error_line(exc: ValidationError, data: Any = None) -> str:
    """``<entry>: <problem>`` for the first error of ``exc`` (``data``, the document, names list items
    by their ``name`` or ``rule``: ``tables[2] (CZRK).load``)."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    kind = first["type"]
    if kind in ("missing", "extra_forbidden"):
        # The unknown and the missing keys of one entry, in one message (a misspelt key is both).
        parent = first["loc"][:-1]
        parts = []
        for name, label in (("extra_forbidden", "unknown entries"), ("missing", "missing")):
            keys = sorted(str(e["loc"][-1]) for e in errors if e["type"] == name and e["loc"][:-1] == parent)
            if keys:
                parts.append(f"{label} {keys}")
        return _prefixed(_entry(parent, data), "; ".join(parts))
    message = first["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if kind not in ("value_error", "assertion_error") and not isinstance(first.get("input"), dict | list):
        message = f"{message}, got {first.get('input')!r}"
    others = len(errors) - 1
    suffix = f" (and {others} more error{'s' if others > 1 else ''})" if others else ""
    return _prefixed(_entry(first["loc"], data), message + suffix)


def _prefixed(entry: str, message: str) -> str:
    """``entry: message``; a problem of the whole document (its validator names the entries) bare."""
    return f"{entry}: {message}" if entry else message


def _entry(loc: tuple, data: Any) -> str:
    """``tables[0] (CZRK).columns.XM``: a pydantic location as the file's reader writes it. Pydantic
    names the branch of a union it tried (``function-after[...]``, ``str``): dropped."""
    out = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            label = node.get("name") or node.get("rule") if isinstance(node, dict) else None
            if isinstance(label, str):
                out += f" ({label})"
            continue
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif "[" in str(part) or part in ("str", "int", "float", "bool", "list", "dict"):
            continue  # a union branch's name, not an entry of the file
        else:
            node = None
        out += f".{part}" if out else str(part)
    return out
