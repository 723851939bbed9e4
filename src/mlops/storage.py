"""The S3 adapter: bytes in and out, every artifact addressed with its sha256.

S3's errors become the domain's: a missing object is ``NotFound`` (or None from ``head``), a throttled,
failing or unreachable S3 is ``DependencyUnavailable``; anything else is a bug or a misconfiguration
and passes unchanged.
``open`` returns an object's body to read as it arrives; ``mlops.multipart`` writes big objects.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, BinaryIO, Protocol, cast

from mlops import aws
from mlops.errors import MlopsError, NotFound

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from mlops.entities import ArtifactRef

MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound", "NoSuchVersion", "NoSuchBucket"})


class ArtifactRefLike(Protocol):
    """What a verified read needs of an artifact reference: ``mlops.entities.ArtifactRef``, or the
    plain one serving reads (``mlops.serving.records``), which never imports pydantic."""

    @property
    def bucket(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def sha256(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def uri(self) -> str: ...


class IntegrityError(MlopsError):
    """An artifact's bytes do not match the sha256 recorded for it."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class ObjectHead:
    """What ``HeadObject`` says of an object: the fields the domain reads."""

    etag: str  # without S3's quotes
    size: int
    last_modified: datetime | None
    version_id: str | None


class Storage:
    def __init__(self, client: S3Client | None = None) -> None:
        self._client = client

    @property
    def s3(self) -> S3Client:
        return self._client or aws.s3()

    def put(
        self, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> ArtifactRef:
        from mlops.entities import ArtifactRef  # the records import pydantic, which serving never loads

        digest = sha256_hex(data)
        with aws.unavailable_as("S3"):
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
            with aws.unavailable_as("S3"):
                if version_id:
                    out = self.s3.get_object(Bucket=bucket, Key=key, VersionId=version_id)
                else:
                    out = self.s3.get_object(Bucket=bucket, Key=key)
        except Exception as error:
            if aws.error_code(error) in MISSING_CODES:
                raise NotFound(f"s3://{bucket}/{key} does not exist.") from error
            raise
        return cast("BinaryIO", out["Body"])

    def head(self, bucket: str, key: str) -> ObjectHead | None:
        """The object's metadata, or None when there is no such object."""
        try:
            with aws.unavailable_as("S3"):
                out = self.s3.head_object(Bucket=bucket, Key=key)
        except Exception as error:
            if aws.error_code(error) in MISSING_CODES:
                return None
            raise
        modified = out.get("LastModified")
        return ObjectHead(
            etag=str(out.get("ETag", "")).strip('"'),
            size=int(out.get("ContentLength", 0)),
            last_modified=modified if isinstance(modified, datetime) else None,
            version_id=out.get("VersionId"),
        )

    def version_count(self, bucket: str, key: str) -> int:
        """How many versions of the object a versioned bucket holds (1 for one written once)."""
        with aws.unavailable_as("S3"):
            listing = self.s3.list_object_versions(Bucket=bucket, Prefix=key)
        return sum(1 for v in listing.get("Versions", []) if v.get("Key") == key)

    def download_verified(self, ref: ArtifactRefLike, file: BinaryIO, chunk_bytes: int = 1 << 20) -> int:
        """Copy the artifact into ``file`` as it arrives, hashing on the way; its size.

        Raises ``IntegrityError`` when the bytes do not match the recorded sha256 (``file`` then holds
        them, to be discarded by the caller)."""
        digest = hashlib.sha256()
        size = 0
        body = self.open(ref.bucket, ref.key)
        try:
            with aws.unavailable_as("S3"):
                while chunk := body.read(chunk_bytes):
                    digest.update(chunk)
                    file.write(chunk)
                    size += len(chunk)
        finally:
            body.close()
        if digest.hexdigest() != ref.sha256:
            raise IntegrityError(f"{ref.uri} does not match its recorded sha256 {ref.sha256[:12]}.")
        return size

    def get_verified(self, ref: ArtifactRefLike) -> bytes:
        data = self.get(ref.bucket, ref.key)
        if sha256_hex(data) != ref.sha256:
            raise IntegrityError(f"{ref.uri} does not match its recorded sha256 {ref.sha256[:12]}.")
        return data
