"""A quality rule declared next to a column (校验规则), in the databrickslabs/dqx form.

``{criticality, check: {function, arguments}, filter}`` on a standard field (``schemas/standards``:
every column mapped to it) or on a table of the source registry (``sources/systems``: with
``arguments.column``). ``function`` is a check kind of ``quality/indicators.yaml``:

- a check function (an entry with ``function: module:name``, :mod:`citylake.quality.check_functions`):
  the rule applies it with its arguments, to the rows its ``filter`` holds for;
- a check the standards apply already (``valid``, ``review``, ``required`` …): the rule changes its
  criticality for the column, e.g. ``drop_value`` for a phone number, so a malformed one is left out
  of silver and reported while the person's record is kept.

Criticality: ``error`` quarantines the row, ``warning`` lets it reach silver with the finding in
``_warnings``, ``drop_value`` lets it reach silver without the value (null in silver, the value
kept in bronze) and with the finding in ``_warnings``. Left out, the kind's default applies.
Whether the function exists and the arguments fit it is checked when the file loads
(:func:`citylake.quality.checks.rule_problem`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from citylake.config_model import ConfigModel

CRITICALITIES = ("error", "warning", "drop_value")


class CheckCall(ConfigModel):
    """The check a rule applies: a check kind of quality/indicators.yaml and its arguments."""

    function: str = Field(min_length=1, description="a check kind of quality/indicators.yaml")
    arguments: dict[str, Any] = Field(default_factory=dict,
                                      description="the function's arguments; on a table, `column` names the column")


class RuleEntry(ConfigModel):
    """``{criticality, check, filter}``, as databrickslabs/dqx declares a rule."""

    criticality: Literal[CRITICALITIES] | None = Field(
        None, description="error (quarantine the row), warning, drop_value (null in silver, row kept); "
                          "default: the check kind's")
    check: CheckCall
    filter: str | None = Field(None, min_length=1, description="SQL condition on the source columns: the rows "
                                                               "the rule applies to (check functions only)")

    @property
    def column(self) -> str | None:
        return self.check.arguments.get("column")

    def function_arguments(self) -> dict[str, Any]:
        """The arguments the function takes (the table rule's ``column`` is the column it judges)."""
        return {k: v for k, v in self.check.arguments.items() if k != "column"}
