"""The legal-entity library (法人库, 一企一档): one golden record per USCC (citylake.jobs.enterprise)."""
