"""SnapStart runtime hooks of the inference function: plain functions, registered by the handler with
``snapshot_restore_py`` (which the Lambda Python runtime provides) and called by tests directly.

With SnapStart, Lambda runs the function's init once per published version, runs the before-snapshot
hooks, and snapshots the execution environment; new environments resume from that snapshot instead
of initialising. So whatever the hooks do before the snapshot, no cold start pays for again:

- ``before_snapshot`` builds the AWS clients and loads every production model (sha256 checked,
  onnxruntime session created, warm-up prediction run, a tree ensemble's bulk graph and the large-body
  decoder built), so a restored environment serves from memory;
- ``after_restore`` undoes what must not be shared between environments restored from one snapshot:
  it reseeds ``random`` (capture sampling would otherwise draw the same sequence in every
  environment), drops the clients' pooled connections (opened before the snapshot, stale now) and
  marks every production alias for a re-read on its next request (a promotion or rollback made since
  the snapshot serves at once, instead of after the alias TTL counted from snapshot time).
"""

from __future__ import annotations

import random

from mlops import aws
from mlops.observability import logger
from mlops.serving.service import InferenceService


def before_snapshot(service: InferenceService) -> list[str]:
    """Load and warm every production model; returns the names loaded."""
    models = service.store.preload()
    for model in models:
        model.bulk_session()  # a tree ensemble's bulk graph too: the snapshot holds it, no request builds it
        if model.layout.decodes_records:
            model.layout.records_decoder()  # and the large-body decoder (importing msgspec)
    loaded = [f"{model.name}:{model.version}" for model in models]
    logger.info("Loaded the production models before the snapshot", extra={"models": loaded})
    return loaded


def after_restore(service: InferenceService) -> None:
    random.seed()  # from os.urandom: each restored environment samples differently
    aws.close_connections()
    service.store.expire()
