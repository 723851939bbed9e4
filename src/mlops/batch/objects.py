"""The S3 adapter of batch scoring: list inputs, stage byte ranges to local files, upload parts.

Everything streams in fixed-size chunks, so a worker's memory does not grow with the input.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from boto3.s3.transfer import S3Transfer

from mlops import aws
from mlops.batch.entities import S3Location
from mlops.errors import NotFound
from mlops.storage import Storage

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

CHUNK = 1024 * 1024
WINDOW = 8 * CHUNK  # bytes per ranged read


class BatchObjects:
    def __init__(self, client: S3Client | None = None) -> None:
        self._client = client
        self._storage = Storage(client)

    @property
    def s3(self) -> S3Client:
        return self._client or aws.s3()

    def list(self, location: S3Location) -> Iterator[dict[str, Any]]:
        """The objects under a prefix (key ending in '/'), or the one object named."""
        if not location.key.endswith("/"):
            head = self._storage.head(location.bucket, location.key)
            if head is None:
                raise NotFound(f"{location.uri} does not exist.")
            yield {"Key": location.key, "Size": head.size, "ETag": f'"{head.etag}"'}
            return
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=location.bucket, Prefix=location.key):
            for item in page.get("Contents", []):
                yield {"Key": item["Key"], "Size": item["Size"], "ETag": item.get("ETag", "")}

    def sha256(self, bucket: str, key: str) -> str:
        digest = hashlib.sha256()
        head = self._storage.head(bucket, key)
        if head is None:
            raise NotFound(f"s3://{bucket}/{key} does not exist.")
        size = head.size
        for chunk in self._chunks(bucket, key, 0, size):
            digest.update(chunk)
        return digest.hexdigest()

    def head_bytes(self, bucket: str, key: str, size: int = 64 * 1024) -> bytes:
        return self.s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{size - 1}")["Body"].read()

    def _chunks(self, bucket: str, key: str, start: int, size: int) -> Iterator[bytes]:
        """The object's bytes from ``start`` in bounded ranged reads (an open-ended read would have
        S3 send the rest of the object, however little of it is used)."""
        position = start
        while position < size:
            last = min(position + WINDOW, size) - 1
            body = self.s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={position}-{last}")["Body"]
            try:
                for chunk in iter(partial(body.read, CHUNK), b""):
                    position += len(chunk)
                    yield chunk
            finally:
                body.close()

    def stage_lines(self, bucket: str, key: str, start: int, end: int, size: int, out: Any) -> None:
        """Copy to ``out`` the lines that start in ``[start, end)``: reading from ``start - 1`` and
        skipping through the first newline finds the first whole line; the last one runs past ``end``
        to its newline. Neighbouring ranges so split every line exactly once."""
        skip = start > 0
        position = start - 1 if skip else 0
        for chunk in self._chunks(bucket, key, position, size):
            view = chunk
            if skip:
                newline = view.find(b"\n")
                if newline < 0:
                    position += len(view)
                    continue
                position += newline + 1
                view = view[newline + 1 :]
                skip = False
                if end < size and position >= end:
                    return  # a line longer than the range: the range before owns it
            if end < size and position + len(view) >= end:
                # The line holding byte end - 1 is the last: stop after its newline.
                newline = view.find(b"\n", max(0, end - 1 - position))
                if newline >= 0:
                    out.write(view[: newline + 1])
                    return
            out.write(view)
            position += len(view)

    def download(self, bucket: str, key: str, path: Path) -> None:
        # s3transfer around the plain botocore client (mlops.aws): ranged, parallel parts.
        S3Transfer(self.s3).download_file(bucket, key, str(path))

    def upload(self, path: Path, bucket: str, key: str, content_type: str) -> None:
        S3Transfer(self.s3).upload_file(str(path), bucket, key, extra_args={"ContentType": content_type})

    def delete(self, bucket: str, key: str) -> None:
        self.s3.delete_object(Bucket=bucket, Key=key)

    def put_json(self, location: S3Location, document: Any) -> None:
        body = json.dumps(document, indent=2, default=str).encode("utf-8")
        self.s3.put_object(
            Bucket=location.bucket, Key=location.key, Body=body, ContentType="application/json"
        )

    def get_json(self, location: S3Location) -> Any:
        return json.loads(self._storage.get(location.bucket, location.key))
