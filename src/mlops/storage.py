"""The S3 adapter: bytes in and out, every artifact addressed with its sha256.

Big objects stream both ways: ``open`` returns the body to read as it arrives, and ``MultipartUpload``
is a write-only file whose bytes go up in parts of ``PART_BYTES`` (S3's minimum is 5 MiB for every
part but the last), completed on ``close`` and aborted, leaving no parts behind, on ``abort``.
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
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef


PART_BYTES = 8 * 1024**2


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

    def copy(self, bucket: str, source: str, ref: ArtifactRef) -> ArtifactRef:
        """Copy ``source`` (up to 5 GiB, S3's single-copy limit) to ``ref``'s key, its sha256 kept."""
        self.s3.copy_object(
            Bucket=bucket,
            Key=ref.key,
            CopySource={"Bucket": bucket, "Key": source},
            Metadata={"sha256": ref.sha256},
            MetadataDirective="REPLACE",
        )
        return ArtifactRef(bucket=bucket, key=ref.key, sha256=ref.sha256, size=ref.size)

    def delete(self, bucket: str, key: str) -> None:
        self.s3.delete_object(Bucket=bucket, Key=key)

    def start_multipart(self, bucket: str, key: str, content_type: str) -> str:
        return self.s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType=content_type)["UploadId"]

    def upload_part(self, bucket: str, key: str, upload_id: str, number: int, data: bytes) -> str:
        out = self.s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data)
        return out["ETag"]

    def complete_multipart(self, bucket: str, key: str, upload_id: str, etags: list[str]) -> None:
        parts: list[CompletedPartTypeDef] = [
            {"PartNumber": number, "ETag": etag} for number, etag in enumerate(etags, start=1)
        ]
        self.s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )

    def abort_multipart(self, bucket: str, key: str, upload_id: str) -> None:
        self.s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)

    def multipart_uploads(self, bucket: str, prefix: str = "") -> list[str]:
        """Keys with an upload in progress (started, neither completed nor aborted)."""
        out = self.s3.list_multipart_uploads(Bucket=bucket, Prefix=prefix)
        return [upload["Key"] for upload in out.get("Uploads", [])]

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


class MultipartUpload:
    """A write-only file over an S3 multipart upload, hashing what it writes."""

    def __init__(
        self,
        storage: Storage,
        bucket: str,
        key: str,
        content_type: str = "application/octet-stream",
        part_bytes: int = PART_BYTES,
    ) -> None:
        self._storage = storage
        self.bucket, self.key, self._content_type = bucket, key, content_type
        self._part_bytes = part_bytes
        self._buffer = bytearray()
        self._digest = hashlib.sha256()
        self._etags: list[str] = []
        self._upload_id: str | None = None
        self._written = 0
        self.closed = False
        self.ref: ArtifactRef | None = None

    def write(self, data: bytes) -> int:
        self._buffer += data
        self._digest.update(data)
        self._written += len(data)
        if len(self._buffer) >= self._part_bytes:
            self._send(bytes(self._buffer))
            self._buffer.clear()
        return len(data)

    def _send(self, part: bytes) -> str:
        if self._upload_id is None:
            self._upload_id = self._storage.start_multipart(self.bucket, self.key, self._content_type)
        number = len(self._etags) + 1
        self._etags.append(self._storage.upload_part(self.bucket, self.key, self._upload_id, number, part))
        return self._upload_id

    def tell(self) -> int:
        return self._written

    def flush(self) -> None:
        """Parts go up when full; ``close`` sends the rest."""

    def close(self) -> None:
        """Send the last part and complete the upload; ``ref`` is then the object."""
        if self.closed:
            return
        try:
            upload_id = self._send(bytes(self._buffer))
            self._buffer.clear()
            self._storage.complete_multipart(self.bucket, self.key, upload_id, self._etags)
            self._upload_id = None
        except BaseException:
            self.abort()
            raise
        self.closed = True
        self.ref = ArtifactRef(
            bucket=self.bucket, key=self.key, sha256=self._digest.hexdigest(), size=self._written
        )

    def abort(self) -> None:
        """Drop the parts sent so far: no object, and no upload left to bill."""
        self.closed = True
        self._buffer.clear()
        if self._upload_id is not None:
            upload_id, self._upload_id = self._upload_id, None
            self._storage.abort_multipart(self.bucket, self.key, upload_id)
