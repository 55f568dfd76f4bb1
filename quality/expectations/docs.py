"""GX Data Docs for engineers, built as a step of its own from the kept validation results.

The validations run in ephemeral contexts inside the tasks (:mod:`quality.expectations.validate`);
this step opens a file context under ``$CITYLAKE_HOME/gx/``, puts every table's suite (built from
the specs, so the docs show the current rules) and every kept result into its stores, and renders
the static site, then makes it work offline (:mod:`citylake.quality.expectations.offline`: the
CDN libraries vendored from pinned packages, no request leaving the pages). Rebuilding is
idempotent; a lock keeps two builders off the site at once. It runs once per round, in the
``build_data_docs`` DAG (:mod:`citylake.orchestration.docs_dags`).
"""

from __future__ import annotations

import fcntl
import json
import logging
from pathlib import Path

import great_expectations as gx
from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResultSchema
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.data_context.types.resource_identifiers import (
    ExpectationSuiteIdentifier,
    ValidationResultIdentifier,
)

from citylake.quality.expectations.offline import make_site_offline
from citylake.quality.expectations.suite import build_suite
from citylake.settings import Home
from citylake.sources.registry import load_registry

log = logging.getLogger(__name__)

SITE = "local_site"


def site_index(home: Home) -> Path:
    return home.gx / "gx" / "uncommitted" / "data_docs" / SITE / "index.html"


def build_data_docs(home: Home) -> Path:
    """Render the Data Docs site; returns its index.html."""
    home.gx.mkdir(parents=True, exist_ok=True)
    with open(home.gx / ".docs.lock", "a+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        context = gx.get_context(mode="file", project_root_dir=home.gx)
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        for system in load_registry().values():
            for table in system.tables:
                context.suites.add_or_update(build_suite(system, table))
        schema = ExpectationSuiteValidationResultSchema()
        kept = sorted((home.gx / "validations").rglob("*.json")) if (home.gx / "validations").exists() else []
        for path in kept:
            document = json.loads(path.read_text(encoding="utf-8"))
            result = schema.load(document["gx_result"])
            run_time = result.meta.get("run_id", {}).get("run_time") if isinstance(result.meta, dict) else None
            key = ValidationResultIdentifier(
                expectation_suite_identifier=ExpectationSuiteIdentifier(name=document["suite"]),
                # GX keys are file names: the batch id (which holds '/') appears as the kept file's stem.
                run_id=RunIdentifier(run_name=path.stem, run_time=run_time), batch_identifier=path.parent.name)
            context.validation_results_store.set(key, result)
        context.build_data_docs(site_names=[SITE])
        index = site_index(home)
        make_site_offline(index.parent)
    log.info("Data Docs: %d validation results, %s", len(kept), index)
    return index
