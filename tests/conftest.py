"""Settings for the whole suite, applied before any test module imports scikit-learn."""

from __future__ import annotations

import os

from mlops.definition.description import METRICS_NAMESPACE
from mlops.local.resources import LOCAL_STAGE

# Tests run two workers on two cores: OpenMP's spinning threads in each worker would fight over them
# (histogram gradient boosting on a 150-row dataset took 6x longer that way).
os.environ.setdefault("OMP_NUM_THREADS", "1")

# The functions' metric namespace, which the stack description gives every deployed function (and the
# embedded stack its in-process handlers): tests that import the handlers' modules directly need it too.
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", METRICS_NAMESPACE.for_stage(LOCAL_STAGE))
