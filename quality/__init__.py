"""The quality gate bronze -> silver: suites derived from the data standards in :mod:`citylake.schemas`,
row-level routing to silver or quarantine, and feedback to the owning departments."""
