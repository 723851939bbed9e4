"""Settings for the whole suite, applied before any test module imports scikit-learn."""

from __future__ import annotations

import os

# Tests run two workers on two cores: OpenMP's spinning threads in each worker would fight over them
# (histogram gradient boosting on a 150-row dataset took 6x longer that way).
os.environ.setdefault("OMP_NUM_THREADS", "1")
