"""``mlops upload FILE --dataset NAME``: write the dataset's config if asked, upload, optionally wait."""

from __future__ import annotations

import argparse
import re
from datetime import datetime
from pathlib import Path
from typing import Protocol

from boto3.s3.transfer import S3Transfer
from pydantic import ValidationError

from mlops.cli.commands.datasets import read_config_file, write_config
from mlops.cli.commands.wait import Deadline, follow_run, report_run, wait_for_raw_object
from mlops.cli.connection import Context
from mlops.cli.errors import EXIT_FAILED, EXIT_OK, CliError
from mlops.config import DatasetConfig
from mlops.configfile import validation_sentence
from mlops.entities import ConfigSource, utcnow
from mlops.pipeline.ingest import (
    DATASET_NAME,  # the names ingest accepts
    RAW_PREFIX,
)
from mlops.storage import Storage

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def upload_key(dataset: str, file_name: str, now: datetime) -> str:
    """``raw/<dataset>/<UTC timestamp>-<file>.csv``: unique per upload, so identical content uploaded
    again is a new object that ingest recognises as a duplicate, never an overwrite."""
    stem = _UNSAFE.sub("_", Path(file_name).name).strip("._") or "data"
    if not stem.lower().endswith(".csv"):
        stem += ".csv"
    return f"{RAW_PREFIX}{dataset}/{now.strftime('%Y%m%dT%H%M%S%fZ')}-{stem}"


class ConfigStore(Protocol):
    def find_config(self, dataset: str) -> DatasetConfig | None: ...

    def put_config(self, dataset: str, config: DatasetConfig, source: ConfigSource = "api") -> object: ...


def configure(datasets: ConfigStore, dataset: str, target: str | None, task: str | None) -> DatasetConfig:
    """The dataset's config after applying --target/--task (only those fields change)."""
    if target is not None and not target.strip():
        raise CliError("--target must name a column, not be blank.")
    existing = datasets.find_config(dataset)
    if existing is None and target is None:
        raise CliError(
            f"Dataset '{dataset}' has no config yet: pass --target COLUMN (and --task) to create it."
        )
    if target is None and task is None:
        assert existing is not None
        return existing
    document = existing.model_dump() if existing else {}
    if target is not None:
        document["target"] = target
    if task is not None:
        document["task"] = task
    try:
        config = DatasetConfig.model_validate(document)
    except ValidationError as error:
        raise CliError(f"Invalid config for '{dataset}': {validation_sentence(error)}") from error
    if config != existing:
        datasets.put_config(dataset, config, source="upload")
    return config


def run_upload(args: argparse.Namespace, ctx: Context) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise CliError(f"{path} does not exist or is not a file.")
    dataset = args.dataset
    if not DATASET_NAME.match(dataset):
        raise CliError(f"Dataset name '{dataset}' must be 1-64 letters, digits, '.', '_' or '-'.")
    if args.config:
        overrides = {k: v for k, v in (("target", args.target), ("task", args.task)) if v is not None}
        write_config(ctx, dataset, read_config_file(args.config, overrides), "upload")
    else:
        configure(ctx.registry.datasets, dataset, args.target, args.task)

    bucket, key = ctx.outputs.data_bucket, upload_key(dataset, path.name, utcnow())
    s3 = ctx.client("s3")
    # s3transfer (multipart, parallel parts) around the plain client: large CSVs upload in parts.
    S3Transfer(s3).upload_file(str(path), bucket, key, extra_args={"ContentType": "text/csv"})
    head = Storage(s3).head(bucket, key)
    if head is None:
        raise CliError(f"s3://{bucket}/{key} disappeared right after its upload; upload it again.")
    etag = head.etag
    if not args.wait:
        ctx.say(
            f"Uploaded {path.name} to s3://{bucket}/{key}; the pipeline starts on its own "
            f"(follow it with `mlops runs list --dataset {dataset}`)."
        )
        return EXIT_OK

    ctx.note(f"Uploaded {path.name} to s3://{bucket}/{key}")
    deadline = Deadline(ctx, args.timeout)
    record = wait_for_raw_object(ctx, dataset, bucket, key, etag, deadline)
    if record.status == "DUPLICATE":
        ctx.say(record.reason or "Content identical to an existing dataset version; no training started.")
        return EXIT_OK
    if record.run_id is None:
        ctx.note(f"The upload was {record.status.lower()}: {record.reason or 'no reason recorded.'}")
        return EXIT_FAILED
    ctx.note(f"Run {record.run_id}")
    return report_run(ctx, follow_run(ctx, record.run_id, deadline))
