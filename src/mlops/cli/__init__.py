"""The ``mlops`` command-line interface (CONTRACT §2-§3)."""
