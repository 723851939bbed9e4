"""The table layer under the registry's stores: items in, records out, conflicts as ``Conflict``.

Items carry their keys, the few attributes conditions and indexes need, and ``doc``: the record as
JSON (no float/Decimal conversions, one schema in ``mlops.entities``). Reads are a GetItem or a Query on
a key (the table or one of its indexes), never a Scan.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import ClientError

from mlops import aws
from mlops.dynamodb_types import TypeDeserializer, TypeSerializer
from mlops.errors import Conflict, NotFound, RecordTooLarge

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from pydantic import BaseModel

# Records are pydantic models, but only their writers and validated reads need pydantic: the inference
# function imports this module and reads documents as stored (``mlops.registry.model_reader``).
M = TypeVar("M", bound="BaseModel")
Item = dict[str, Any]

_ser = TypeSerializer()
_de = TypeDeserializer()
# DynamoDB refuses items over 400 KB with a message naming no record; records are bounded before they
# get here (mlops.bounds, S3 for what grows), and this keeps a missed bound from reaching the user raw.
MAX_DOC_BYTES = 380_000
BY_INDEX = "gsi1"
BY_DATASET = "gsi2"  # runs of one dataset, newest first


def iso(value: datetime) -> str:
    return value.isoformat()


def doc(model: BaseModel) -> str:
    text = model.model_dump_json()
    if len(text) > MAX_DOC_BYTES // 4 and len(text.encode()) > MAX_DOC_BYTES:
        raise RecordTooLarge(
            f"The {type(model).__name__} record is {len(text.encode()) // 1024} KB, past the metadata "
            f"table's {MAX_DOC_BYTES // 1000} KB limit."
        )
    return text


def attrs(values: dict[str, Any]) -> Item:
    """Plain values as DynamoDB attribute values; None values are left out."""
    return {k: _ser.serialize(v) for k, v in values.items() if v is not None}


def value(item: Item, name: str) -> Any:
    return _de.deserialize(item[name])


def load(cls: type[M], item: Item) -> M:
    return cls.model_validate_json(value(item, "doc"))


def conditional_failed(error: ClientError) -> bool:
    """Whether a write failed on its condition (a lost race), not for another reason."""
    code = error.response.get("Error", {}).get("Code", "")
    if code == "ConditionalCheckFailedException":
        return True
    if code == "TransactionCanceledException":
        reasons = error.response.get("CancellationReasons", [])
        return any(r.get("Code") == "ConditionalCheckFailed" for r in reasons) or not reasons
    return False


def encode_cursor(key: Item) -> str:
    plain = {name: _de.deserialize(v) for name, v in key.items()}
    return base64.urlsafe_b64encode(json.dumps(plain, sort_keys=True).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, str]:
    """The key a cursor names; a cursor that is not one of ours raises NotFound (a stale link)."""
    try:
        plain = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError as error:
        raise NotFound("That page link is not valid any more; start from the first page.") from error
    if not isinstance(plain, dict) or not all(isinstance(v, str) for v in plain.values()):
        raise NotFound("That page link is not valid any more; start from the first page.")
    return {str(k): v for k, v in plain.items()}


@dataclass(frozen=True)
class Key:
    """Where a Query reads: a partition of the table or of an index, optionally a sort-key prefix."""

    pk: str
    sk_prefix: str = ""
    index: str | None = None


@dataclass(frozen=True)
class Condition:
    expression: str
    values: dict[str, Any] | None = None
    names: dict[str, str] | None = None

    def kwargs(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ConditionExpression": self.expression}
        if self.values:
            out["ExpressionAttributeValues"] = attrs(self.values)
        if self.names:
            out["ExpressionAttributeNames"] = self.names
        return out


NEW = Condition("attribute_not_exists(pk)")


class Table:
    """One DynamoDB table: the five operations every store is made of."""

    def __init__(self, name: str, client: DynamoDBClient | None = None) -> None:
        self.name = name
        self._client = client

    @property
    def db(self) -> DynamoDBClient:
        return self._client or aws.dynamodb()

    def get(self, pk: str, sk: str, consistent: bool = True) -> Item | None:
        out = self.db.get_item(
            TableName=self.name, Key=attrs({"pk": pk, "sk": sk}), ConsistentRead=consistent
        )
        return out.get("Item")

    def put(self, item: Item, condition: Condition | None = None, conflict: str | None = None) -> None:
        """Write an item (built with ``attrs``); a failed ``condition`` raises Conflict(``conflict``)."""
        kwargs: dict[str, Any] = {
            "TableName": self.name,
            "Item": item,
            **(condition.kwargs() if condition else {}),
        }
        try:
            self.db.put_item(**kwargs)
        except ClientError as error:
            if conditional_failed(error):
                raise Conflict(
                    conflict or "The record was changed concurrently or already exists."
                ) from error
            raise

    def put_request(self, item: Item, condition: Condition | None = None) -> dict[str, Any]:
        """The same write as ``put``, as one entry of a ``transact``."""
        return {"Put": {"TableName": self.name, "Item": item, **(condition.kwargs() if condition else {})}}

    def update_request(self, pk: str, sk: str, expression: str, values: dict[str, Any]) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self.name,
                "Key": attrs({"pk": pk, "sk": sk}),
                "UpdateExpression": expression,
                "ExpressionAttributeValues": attrs(values),
            }
        }

    def transact(self, requests: list[dict[str, Any]], conflict: str) -> None:
        """All writes or none; a failed condition in any raises Conflict(``conflict``)."""
        try:
            self.db.transact_write_items(TransactItems=requests)  # type: ignore[arg-type]
        except ClientError as error:
            if conditional_failed(error):
                raise Conflict(conflict) from error
            raise

    def add(self, pk: str, sk: str, counter: str) -> int:
        """Increment a counter attribute by one and return its new value (atomic)."""
        out = self.db.update_item(
            TableName=self.name,
            Key=attrs({"pk": pk, "sk": sk}),
            UpdateExpression=f"ADD {counter} :one SET doc = if_not_exists(doc, :empty)",
            ExpressionAttributeValues=attrs({":one": 1, ":empty": "{}"}),
            ReturnValues="UPDATED_NEW",
        )
        return int(value(out["Attributes"], counter))

    def delete(self, pk: str, sk: str, condition: Condition) -> bool:
        """Delete if ``condition`` holds; False when it does not."""
        try:
            self.db.delete_item(TableName=self.name, Key=attrs({"pk": pk, "sk": sk}), **condition.kwargs())
        except ClientError as error:
            if conditional_failed(error):
                return False
            raise
        return True

    def _query_args(self, key: Key, forward: bool) -> dict[str, Any]:
        pk_name, sk_name = (f"{key.index}pk", f"{key.index}sk") if key.index else ("pk", "sk")
        condition, values = f"{pk_name} = :pk", {":pk": key.pk}
        if key.sk_prefix:  # DynamoDB refuses an empty string in a key condition
            condition, values = (
                f"{condition} AND begins_with({sk_name}, :sk)",
                {**values, ":sk": key.sk_prefix},
            )
        kwargs: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": attrs(values),
            "ScanIndexForward": forward,
        }
        if key.index:
            kwargs["IndexName"] = key.index
        return kwargs

    def query(self, key: Key, forward: bool = True, limit: int | None = None) -> Iterator[Item]:
        """Every item under ``key`` (or the first ``limit``), page after page as they are consumed."""
        kwargs = self._query_args(key, forward)
        returned = 0
        while True:
            if limit is not None:
                kwargs["Limit"] = limit - returned
            page = self.db.query(**kwargs)
            for item in page.get("Items", []):
                yield item
                returned += 1
            if "LastEvaluatedKey" not in page or (limit is not None and returned >= limit):
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def page(
        self, key: Key, forward: bool = True, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[Item], str | None]:
        """One page of a Query (``Limit`` sent to DynamoDB) and the cursor of the next, if any.

        The cursor is DynamoDB's LastEvaluatedKey as URL-safe text, so a web page can carry it.
        """
        kwargs = {**self._query_args(key, forward), "Limit": limit}
        if cursor:
            kwargs["ExclusiveStartKey"] = attrs(decode_cursor(cursor))
        page = self.db.query(**kwargs)
        last = page.get("LastEvaluatedKey")
        return page.get("Items", []), encode_cursor(last) if last else None
