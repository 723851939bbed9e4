"""The ``mlops`` command-line interface (docs/cli.md)."""
