"""The department source systems: the registry (one YAML file per system under ``systems/``) and
how a system's connection is resolved."""
