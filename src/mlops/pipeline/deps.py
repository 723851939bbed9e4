"""What the pipeline stages need from the outside world, injected (tests pass moto-backed clients)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from mlops import aws
from mlops.config import DatasetConfig
from mlops.pipeline.payload import RunPayload
from mlops.registry import Registry
from mlops.storage import Storage

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient


@dataclass(frozen=True)
class Deps:
    registry: Registry
    storage: Storage
    data_bucket: str
    artifact_bucket: str

    @property
    def sfn(self) -> SFNClient:
        return aws.stepfunctions()


@lru_cache(maxsize=8)
def build_deps(metadata_table: str, data_bucket: str, artifact_bucket: str) -> Deps:
    return Deps(Registry(metadata_table), Storage(), data_bucket, artifact_bucket)


def run_config(deps: Deps, payload: RunPayload) -> DatasetConfig:
    """The config revision the run started with: every stage of one run sees the same config. (Here,
    not beside ``start_run``: the stages that read it never start runs, and their roles cannot.)"""
    return deps.registry.datasets.config_revision(payload.dataset, payload.config_revision).config
