"""Writing big objects to S3: a multipart upload as a write-only file, and moving what it wrote.

``MultipartUpload`` sends its bytes in parts of ``PART_BYTES`` (S3's minimum is 5 MiB for every part
but the last), completes on ``close`` and aborts on ``abort``, leaving no parts behind. It holds its
first ``whole_bytes`` (a part's worth unless told more) before it starts: an object that never grew past
them is sent on ``close`` with one PUT, to the key ``close`` names if it names one. Only ingest
uses this module (its role may abort uploads and delete its staging objects). A throttled, failing or
unreachable S3 is ``DependencyUnavailable``, as in ``mlops.storage``.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from mlops import aws
from mlops.entities import ArtifactRef
from mlops.storage import Storage

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

PART_BYTES = 8 * 1024**2


def copy(storage: Storage, bucket: str, source: str, ref: ArtifactRef) -> ArtifactRef:
    """Copy ``source`` (up to 5 GiB, S3's single-copy limit) to ``ref``'s key, its sha256 kept."""
    with aws.unavailable_as("S3"):
        storage.s3.copy_object(
            Bucket=bucket,
            Key=ref.key,
            CopySource={"Bucket": bucket, "Key": source},
            Metadata={"sha256": ref.sha256},
            MetadataDirective="REPLACE",
        )
    return ArtifactRef(bucket=bucket, key=ref.key, sha256=ref.sha256, size=ref.size)


def delete(storage: Storage, bucket: str, key: str) -> None:
    with aws.unavailable_as("S3"):
        storage.s3.delete_object(Bucket=bucket, Key=key)


def start_multipart(storage: Storage, bucket: str, key: str, content_type: str) -> str:
    with aws.unavailable_as("S3"):
        return storage.s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType=content_type)[
            "UploadId"
        ]


def upload_part(storage: Storage, bucket: str, key: str, upload_id: str, number: int, data: bytes) -> str:
    with aws.unavailable_as("S3"):
        out = storage.s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data)
    return out["ETag"]


def complete_multipart(storage: Storage, bucket: str, key: str, upload_id: str, etags: list[str]) -> None:
    parts: list[CompletedPartTypeDef] = [
        {"PartNumber": number, "ETag": etag} for number, etag in enumerate(etags, start=1)
    ]
    with aws.unavailable_as("S3"):
        storage.s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )


def put_whole(storage: Storage, bucket: str, key: str, data: bytes, content_type: str, sha256: str) -> None:
    with aws.unavailable_as("S3"):
        storage.s3.put_object(
            Bucket=bucket, Key=key, Body=data, ContentType=content_type, Metadata={"sha256": sha256}
        )


def abort_multipart(storage: Storage, bucket: str, key: str, upload_id: str) -> None:
    with aws.unavailable_as("S3"):
        storage.s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)


class MultipartUpload:
    """A write-only file over an S3 multipart upload, hashing what it writes."""

    def __init__(
        self,
        storage: Storage,
        bucket: str,
        key: str,
        content_type: str = "application/octet-stream",
        part_bytes: int = PART_BYTES,
        whole_bytes: int = 0,
    ) -> None:
        self._storage = storage
        self.bucket, self.key, self._content_type = bucket, key, content_type
        self._part_bytes = part_bytes
        self._whole_bytes = max(whole_bytes, part_bytes)
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
        # The held bytes go as the first part (parts may be up to 5 GiB), then parts of part_bytes.
        if len(self._buffer) >= (self._whole_bytes if self._upload_id is None else self._part_bytes):
            self._send(bytes(self._buffer))
            self._buffer.clear()
        return len(data)

    @property
    def whole(self) -> bool:
        """Whether every byte written so far is still held (no multipart upload started)."""
        return self._upload_id is None and not self.closed

    def _send(self, part: bytes) -> str:
        if self._upload_id is None:
            self._upload_id = start_multipart(self._storage, self.bucket, self.key, self._content_type)
        number = len(self._etags) + 1
        self._etags.append(upload_part(self._storage, self.bucket, self.key, self._upload_id, number, part))
        return self._upload_id

    def tell(self) -> int:
        return self._written

    def flush(self) -> None:
        """Parts go up when full; ``close`` sends the rest."""

    def close(self, whole_key: str | None = None) -> None:
        """Send the last part and complete the upload; ``ref`` is then the object.

        An upload still ``whole`` goes up with one PUT, to ``whole_key`` when given (else its own key).
        """
        if self.closed:
            return
        try:
            if self._upload_id is None:  # it all fit in what is held: one PUT, not three requests
                self.key = whole_key or self.key
                put_whole(
                    self._storage,
                    self.bucket,
                    self.key,
                    bytes(self._buffer),
                    self._content_type,
                    self._digest.hexdigest(),
                )
            else:
                upload_id = self._send(bytes(self._buffer))
                complete_multipart(self._storage, self.bucket, self.key, upload_id, self._etags)
                self._upload_id = None
            self._buffer.clear()
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
            abort_multipart(self._storage, self.bucket, self.key, upload_id)
