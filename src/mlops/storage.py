"""The S3 adapter: bytes in and out, every artifact addressed with its sha256.

``open`` returns an object's body to read as it arrives; ``mlops.multipart`` writes big objects.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from botocore.exceptions import ClientError

from mlops import aws
from mlops.errors import MlopsError, NotFound
from mlops.models import ArtifactRef

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class IntegrityError(MlopsError):
    """An artifact's bytes do not match the sha256 recorded for it."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Storage:
    def __init__(self, client: S3Client | None = None) -> None:
        self._client = client

    @property
    def s3(self) -> S3Client:
        return self._client or aws.s3()

    def put(
        self, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> ArtifactRef:
        digest = sha256_hex(data)
        self.s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=data,
            ContentType=content_type,
            Metadata={"sha256": digest},
        )
        return ArtifactRef(bucket=bucket, key=key, sha256=digest, size=len(data))

    def get(self, bucket: str, key: str, version_id: str | None = None) -> bytes:
        return self.open(bucket, key, version_id).read()

    def open(self, bucket: str, key: str, version_id: str | None = None) -> BinaryIO:
        """The object's body, to be read as it arrives (``NotFound`` when it is gone)."""
        try:
            if version_id:
                out = self.s3.get_object(Bucket=bucket, Key=key, VersionId=version_id)
            else:
                out = self.s3.get_object(Bucket=bucket, Key=key)
        except ClientError as error:
            _raise_not_found(error, bucket, key)
            raise
        return cast("BinaryIO", out["Body"])

    def head(self, bucket: str, key: str) -> dict[str, Any] | None:
        """The object's metadata (``ETag``, ``ContentLength``, ``LastModified``, ``VersionId``), or None."""
        try:
            return dict(self.s3.head_object(Bucket=bucket, Key=key))
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in {"NoSuchKey", "404", "NotFound", "NoSuchBucket"}:
                return None
            raise

    def get_verified(self, ref: ArtifactRef) -> bytes:
        data = self.get(ref.bucket, ref.key)
        if sha256_hex(data) != ref.sha256:
            raise IntegrityError(f"{ref.uri} does not match its recorded sha256 {ref.sha256[:12]}.")
        return data


def _raise_not_found(error: ClientError, bucket: str, key: str) -> None:
    if error.response.get("Error", {}).get("Code", "") in {
        "NoSuchKey",
        "404",
        "NoSuchVersion",
        "NoSuchBucket",
    }:
        raise NotFound(f"s3://{bucket}/{key} does not exist.") from error
