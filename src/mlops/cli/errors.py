"""Exit codes and the error the commands raise for the edge (``main``) to print as one sentence."""

from __future__ import annotations

from mlops.errors import MlopsError

EXIT_OK = 0
EXIT_FAILED = 1  # an error, or the run waited for did not succeed
EXIT_USAGE = 2  # argparse's own code for bad arguments
EXIT_TIMEOUT = 2  # --wait gave up: the run may still finish
EXIT_INTERRUPTED = 130


class CliError(MlopsError):
    """An expected error: ``main`` prints its message to stderr and exits with ``exit_code``."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code
