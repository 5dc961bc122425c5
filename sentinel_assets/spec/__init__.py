"""The YAML contract: models, the loader with line numbers, spec errors, ``${VAR}`` handling,
channel settings and template checks."""
