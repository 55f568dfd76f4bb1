"""Scrubbing error messages that may quote source values (personal data must not reach logs).

Extraction's own errors name the table and column and never a value. An unexpected error from a
driver or library can quote one (``invalid input syntax … "370102199001011234"``), and its message
travels to the Airflow task log, ``result.json`` and the console. Before it leaves
``citylake.ingest.extract`` its message is scrubbed: quoted text, runs of digits long enough to be
an ID, mobile or account number, and Chinese text (names, addresses) are withheld.
"""

from __future__ import annotations

import re

WITHHELD = "<withheld>"
_QUOTES = "'\"`"
# Six or more digits (with an ID's final X, and the separators people type inside numbers).
_NUMBER = re.compile(r"\d[\d\s\-+]{4,}[\dXx]")
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003134f]+")


def scrub(message: str, quotes: str = _QUOTES) -> str:
    """``message`` with anything that may be a source value replaced by ``<withheld>``.

    ``quotes`` are the quote characters whose contents are withheld: all three by default; an
    engine that quotes values one way and identifiers another (DuckDB: 'value', "column") passes
    only the value's quote so that names stay readable.
    """
    quoted = re.compile("|".join(f"{re.escape(q)}[^{re.escape(q)}]*{re.escape(q)}" for q in quotes))
    for pattern in (quoted, _NUMBER, _HAN):
        message = pattern.sub(WITHHELD, message)
    return message


def scrub_numbers(text: str) -> str:
    """``text`` with runs of digits long enough to be an ID, mobile or account number withheld; the
    words kept. For text bureau staff type (a reason for a decision), which must stay readable."""
    return _NUMBER.sub(WITHHELD, text)
