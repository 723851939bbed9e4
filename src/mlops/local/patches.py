"""Where moto stops and the embedded stack takes over.

moto runs Lambda code only in Docker, which the embedded stack does not use: invocations (direct,
from the Step Functions interpreter, from S3 notifications) are dispatched to the real handlers
in-process instead. S3 notifications become asynchronous, as in AWS, and carry the full event shape
(userIdentity, sequencer, versionId) that moto leaves out; a completed multipart upload notifies once,
``ObjectCreated:CompleteMultipartUpload``, as in AWS (moto also sends ``ObjectCreated:Put`` for it). Firehose's dynamic partitioning, which
moto ignores, is installed with the rest (``mlops.local.firehose``), and so are a DynamoDB Query that
reads one partition instead of sorting the whole table (``mlops.local.dynamodb``), the Distributed
Map features its interpreter lacks (``mlops.local.distributed_map``), and SageMaker training jobs
that really run their entry point (``mlops.local.sagemaker``). moto's server lists its own package
folder (a ``listdir`` and a ``stat`` per service, about 1 ms) to route every request: the list is read
once here, as it cannot change while the process runs.
"""

from __future__ import annotations

import itertools
import json
import threading
from typing import Any
from urllib.parse import unquote_plus

from mlops.local.runtime import FunctionRuntime

_installed: dict[str, Any] = {}
_runtime: FunctionRuntime | None = None
_sequencer = itertools.count(1)
_lock = threading.Lock()
_completing = threading.local()


def _routed_invoke(original_key: str) -> Any:
    """A replacement for a moto Lambda backend's ``invoke`` that runs the stack's own functions."""

    def invoke(
        self: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any
    ) -> str | bytes | None:
        runtime = _runtime
        name = runtime.logical_name(function_name) if runtime else None
        if runtime is None or name is None:
            result: str | bytes | None = _installed[original_key](
                self, function_name, qualifier, body, headers, response_headers
            )
            return result
        if isinstance(body, bytes):
            body = body.decode("utf-8")
        event = json.loads(body) if body else {}
        invocation_type = {str(k).lower(): v for k, v in dict(headers or {}).items()}.get(
            "x-amz-invocation-type", "RequestResponse"
        )
        if invocation_type == "Event":
            runtime.invoke_async(name, event)
            return b""
        outcome = runtime.invoke(name, event)
        if outcome.failed:
            response_headers["x-amz-function-error"] = "Unhandled"
        response_headers["x-amz-executed-version"] = "$LATEST"
        payload = outcome.body().encode("utf-8")
        response_headers["Content-Length"] = str(len(payload))
        return payload

    return invoke


def _complete_s3_record(account_id: str, record: dict[str, Any]) -> None:
    from moto.s3.models import s3_backends

    s3 = record.setdefault("s3", {})
    obj = s3.setdefault("object", {})
    with _lock:
        obj.setdefault("sequencer", f"{next(_sequencer):016X}")
    record.setdefault("userIdentity", {"principalId": "AWS:LOCAL"})
    record.setdefault("requestParameters", {"sourceIPAddress": "127.0.0.1"})
    record.setdefault("responseElements", {"x-amz-request-id": obj["sequencer"], "x-amz-id-2": "local"})
    s3.setdefault("bucket", {}).setdefault("ownerIdentity", {"principalId": "LOCAL"})
    bucket = s3["bucket"].get("name")
    try:
        key = s3_backends[account_id]["global"].get_object(bucket, unquote_plus(obj.get("key", "")))
    except Exception:  # the object may be gone already; the handler then reports it
        key = None
    version = getattr(key, "version_id", None)
    if version and version != "null":
        obj.setdefault("versionId", version)


def _s3_invoke_lambda(account_id: str, event_body: Any, fn_arn: str, region_name: str) -> None:
    runtime = _runtime
    name = runtime.logical_name(fn_arn) if runtime else None
    if runtime is None or name is None:
        _installed["s3._invoke_awslambda"](account_id, event_body, fn_arn, region_name)
        return
    for record in event_body.get("Records", []):
        _complete_s3_record(account_id, record)
    runtime.invoke_async(name, event_body)


def _complete_multipart_upload(self: Any, *args: Any, **kwargs: Any) -> Any:
    """moto stores the completed object with ``put_object``, which notifies ``ObjectCreated:Put``
    before the ``CompleteMultipartUpload`` event: AWS sends the latter alone, so the former is dropped."""
    _completing.active = True
    try:
        return _installed["s3.complete_multipart_upload"](self, *args, **kwargs)
    finally:
        _completing.active = False


def _send_s3_event(account_id: str, event_name: Any, bucket: Any, key: Any) -> None:
    from moto.s3.notifications import S3NotificationEvent

    if getattr(_completing, "active", False) and event_name == S3NotificationEvent.OBJECT_CREATED_PUT_EVENT:
        return
    _installed["s3.send_event"](account_id, event_name, bucket, key)


def keep_object_identity(account_id: str, bucket: str, key: str, etag: str, version_id: str | None) -> None:
    """Give a restored object the ETag and version id it had before the restart.

    ``put_object`` makes a new version with a single-part MD5 ETag; a multipart upload's ETag
    (``<md5 of part md5s>-<parts>``) and every version id would change, and lineage and raw records
    that name them would point at nothing S3 has.
    """
    from moto.s3.models import s3_backends

    restored = s3_backends[account_id]["global"].get_object(bucket, key)
    if restored is None:
        return
    restored._etag = etag.strip('"')
    if version_id and version_id != "null" and restored._version_id:
        restored._version_id = version_id


def install(runtime: FunctionRuntime) -> None:
    """Route moto's Lambda invocations to ``runtime``; idempotent, undone by ``uninstall``."""
    global _runtime
    from moto import backends
    from moto.awslambda import models as lambda_models
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.s3 import notifications
    from moto.s3.models import S3Backend

    from mlops.local import distributed_map, dynamodb, sagemaker
    from mlops.local.firehose import install_firehose_partitioning

    _runtime = runtime
    if _installed:
        return
    install_firehose_partitioning()
    dynamodb.install()
    distributed_map.install()
    sagemaker.install()
    for backend in (lambda_models.LambdaBackend, LambdaSimpleBackend):
        key = f"{backend.__name__}.invoke"
        _installed[key] = backend.invoke
        backend.invoke = _routed_invoke(key)  # type: ignore[method-assign]
    _installed["s3._invoke_awslambda"] = notifications._invoke_awslambda
    notifications._invoke_awslambda = _s3_invoke_lambda
    _installed["s3.send_event"] = notifications.send_event
    notifications.send_event = _send_s3_event
    _installed["s3.complete_multipart_upload"] = S3Backend.complete_multipart_upload
    S3Backend.complete_multipart_upload = _complete_multipart_upload  # type: ignore[method-assign]
    _installed["moto.list_of_moto_modules"] = backends.list_of_moto_modules
    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules


def uninstall() -> None:
    global _runtime
    from moto import backends
    from moto.awslambda import models as lambda_models
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.s3 import notifications
    from moto.s3.models import S3Backend

    from mlops.local import distributed_map, dynamodb, sagemaker
    from mlops.local.firehose import uninstall_firehose_partitioning

    uninstall_firehose_partitioning()
    dynamodb.uninstall()
    distributed_map.uninstall()
    sagemaker.uninstall()
    if _installed:
        for backend in (lambda_models.LambdaBackend, LambdaSimpleBackend):
            backend.invoke = _installed.pop(f"{backend.__name__}.invoke")  # type: ignore[method-assign]
        notifications._invoke_awslambda = _installed.pop("s3._invoke_awslambda")
        notifications.send_event = _installed.pop("s3.send_event")
        S3Backend.complete_multipart_upload = _installed.pop("s3.complete_multipart_upload")  # type: ignore[method-assign]
        backends.list_of_moto_modules = _installed.pop("moto.list_of_moto_modules")
    _runtime = None
