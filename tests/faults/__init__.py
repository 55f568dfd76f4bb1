"""The fault suite (issue 15, item 2): each fault, injected for real, and what is checked after it.

- ``tests.faults.test_kill9`` — ``kill -9`` of ``citylake run --stage ingest`` and of
  ``citylake run --stage gate`` (the CLI and its Airflow child, as one process group) right after the
  stage's first Delta commit appears in the lake; then the stage is rerun. Checked: the kill landed
  mid-stage (the run never reported), and the final bronze, silver, quarantine and governance tables
  equal those of an undisturbed run on an identical home (rows as multisets; ignored: batch and run
  ids, issue ids (they hash the batch id), wall-clock timestamps, Delta versions, the extraction
  audits and source-schema rows of batches that found nothing; source schemas compare as a set);
  every batch is conserved (bronze rows = promoted + deleted + quarantined), one audit per batch and
  stage.
- ``tests.faults.test_kill9_gold`` — ``kill -9`` of ``citylake run --stage gold`` (every department,
  the four Spark builds in turn) right after the population build's first gold commit, and right
  after the legal-entity build's (the population and address builds complete, so the rerun's
  population build is incremental and finds nothing changed); then the stage is rerun. Checked: the
  kill landed mid-stage, and every table of the lake, gold and state included, equals an undisturbed
  build's on an identical gated home (ignored as above, plus the Delta versions the population build
  records it left, the record of a population build that touched no person, and a gold build's
  cross-source counts measured again by the rebuild, a batch of their own); the recorded versions
  are the tables' latest, so the next incremental build starts from the completed build, not from
  the killed one's commits.
- ``tests.faults.test_kill9`` (rerun) — the whole round (ingest + gate) run again on a finished home.
  Checked: silver keys unique, quarantine and issue rows not doubled, one audit per batch and stage.
- ``tests.faults.test_source_down`` — a department system on real PostgreSQL whose connections are
  terminated and refused (``pg_terminate_backend``, ``ALLOW_CONNECTIONS false``) once its first table
  has reached bronze. Checked: the run fails with an error naming the system and table and holding no
  source value; no partial batch in bronze, no audit (so no watermark) for the failed table; after
  the database is back a rerun extracts every row exactly once.
- ``tests.faults.test_concurrent_writers`` — two processes committing appends and merges to the same
  Delta tables at once through ``citylake.lake``. Checked: every version readable, versions without
  gaps, no lost or doubled row, each merged key once.
- ``tests.quality.test_fuzz_hostile`` — Hypothesis-generated hostile values through extraction, the
  gate and GX (NULs, controls, surrogates, huge strings, SQL fragments, impossible dates, text in
  numeric columns): never a crash, always a feedback row.
- ``tests.quality.test_gate_crash`` and ``tests.dags.test_run_ingest`` — a crash between any two
  of the gate's commits, and a ``kill -9`` between an extraction's bronze commit and its audit.
"""
