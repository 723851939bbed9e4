"""The AWS calls each function's code can make, found by reading its code, and the IAM actions they need.

From a function's handler, follow every import of the project's own package (lazy imports inside
functions too, since they run; ``if TYPE_CHECKING:`` blocks not, since they never do), and collect each
call whose method is an operation of one of the services the client factory (``mlops.aws``) builds:
``self.db.put_item(...)``, ``aws.sagemaker().describe_training_job(...)``, ``get_paginator("op")``.
Each operation then maps to the IAM actions it needs (mostly ``<prefix>:<Operation>``; the
exceptions are listed in ``EXTRA_ACTIONS`` with AWS's authorization reference as their source).

Reading the code rather than recording calls in tests means a call no test reaches is still found.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import botocore.session
from botocore import xform_name

from mlops.definition.description import FunctionSpec, project_root

# The services mlops.aws builds clients for, and their IAM action prefixes.
IAM_PREFIX = {
    "s3": "s3",
    "dynamodb": "dynamodb",
    "stepfunctions": "states",
    "lambda": "lambda",
    "firehose": "firehose",
    "cloudwatch": "cloudwatch",
    "sagemaker": "sagemaker",
}
# Operations authorized by other actions than their own name (Service Authorization Reference).
EXTRA_ACTIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("s3", "HeadObject"): ("s3:GetObject",),
    ("s3", "ListObjectsV2"): ("s3:ListBucket",),
    # Each item of a transaction needs its own action; the registry's transactions put items and
    # update one (a new model version counts itself in the model-name index).
    ("dynamodb", "TransactWriteItems"): (
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:ConditionCheckItem",
    ),
    ("s3", "CreateMultipartUpload"): ("s3:PutObject",),
    ("s3", "UploadPart"): ("s3:PutObject",),
    ("s3", "CompleteMultipartUpload"): ("s3:PutObject",),
    ("s3", "CopyObject"): ("s3:GetObject", "s3:PutObject"),
    # Creating a training job passes its execution role.
    ("sagemaker", "CreateTrainingJob"): ("sagemaker:CreateTrainingJob", "iam:PassRole"),
    ("sagemaker", "CreateProcessingJob"): ("sagemaker:CreateProcessingJob", "iam:PassRole"),
}
# Keyword arguments that make a call need one more action.
KEYWORD_ACTIONS: dict[tuple[str, str, str], str] = {
    ("s3", "GetObject", "VersionId"): "s3:GetObjectVersion",
    ("sagemaker", "CreateTrainingJob", "Tags"): "sagemaker:AddTags",
}
# Methods named like an AWS operation that are not client calls, reviewed: compiled regular expressions.
NOT_CLIENT_METHODS = frozenset({"search"})
# Project code that is never part of a function: the CLI, the embedded stack, the demo.
NOT_IN_FUNCTIONS = ("mlops.cli", "mlops.local", "mlops.demo")


@dataclass(frozen=True)
class ClientCall:
    service: str
    operation: str  # as the API names it, e.g. PutMetricAlarm
    module: str
    line: int
    keywords: frozenset[str]

    @property
    def actions(self) -> tuple[str, ...]:
        base = EXTRA_ACTIONS.get(
            (self.service, self.operation), (f"{IAM_PREFIX[self.service]}:{self.operation}",)
        )
        extra = tuple(
            action
            for (service, operation, keyword), action in KEYWORD_ACTIONS.items()
            if (service, operation) == (self.service, self.operation) and keyword in self.keywords
        )
        return base + extra

    def __str__(self) -> str:
        return f"{self.service}.{xform_name(self.operation)} ({self.module}:{self.line})"


@cache
def operations() -> dict[str, list[tuple[str, str]]]:
    """snake_case method name -> [(service, OperationName)] over the factory's services."""
    session = botocore.session.get_session()
    found: dict[str, list[tuple[str, str]]] = {}
    for service in IAM_PREFIX:
        for operation in session.get_service_model(service).operation_names:
            found.setdefault(xform_name(operation), []).append((service, operation))
    return found


def module_file(module: str) -> Path | None:
    if not module.startswith("mlops") or module.startswith(NOT_IN_FUNCTIONS):
        return None
    base = project_root() / "src" / Path(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node except those under ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            stack.extend(node.orelse)
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def _imports(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}  # submodules imported by name
    return names


def import_closure(spec: FunctionSpec) -> dict[str, ast.AST]:
    """The function's handler and every project module it imports, transitively: name -> syntax tree."""
    handler = project_root() / spec.code_dir / "handler.py"
    trees: dict[str, ast.AST] = {}
    pending: list[tuple[str, Path]] = [(f"functions.{spec.name}.handler", handler)]
    while pending:
        name, path = pending.pop()
        if name in trees:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        trees[name] = tree
        for imported in _imports(tree):
            # Importing a.b.c runs a/__init__ and a/b/__init__ too.
            parts = imported.split(".")
            for depth in range(1, len(parts) + 1):
                module = ".".join(parts[:depth])
                file = module_file(module)
                if file is not None and module not in trees:
                    pending.append((module, file))
    return trees


# Receivers that name their service by another word: the Step Functions adapter's ``self.sfn``, the
# registry's ``self.db``.
RECEIVER_ALIASES = {"sfn": "stepfunctions", "db": "dynamodb"}


def _receiver_services(call: ast.Call) -> set[str]:
    """The services a call's receiver names (``aws.sagemaker()``, ``self.cloudwatch``, ``self.sfn``)."""
    assert isinstance(call.func, ast.Attribute)
    words = set(re.findall(r"[a-z0-9]+", ast.unparse(call.func.value).lower()))
    return {IAM_PREFIX_SERVICE.get(w, RECEIVER_ALIASES.get(w, "")) for w in words} - {""}


IAM_PREFIX_SERVICE = {service: service for service in IAM_PREFIX}


def _defined_names(trees: dict[str, ast.AST]) -> set[str]:
    return {
        node.name
        for tree in trees.values()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }


@dataclass(frozen=True)
class Calls:
    found: list[ClientCall]
    # Calls of a method named like an AWS operation whose receiver names no service and which no
    # project code defines: each must be reviewed (a client under an unexpected name would be missed).
    unresolved: list[str]


def client_calls(spec: FunctionSpec) -> Calls:
    trees = import_closure(spec)
    defined = _defined_names(trees)
    found: list[ClientCall] = []
    unresolved: list[str] = []
    for module, tree in sorted(trees.items()):
        for node in _runtime_nodes(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            method = node.func.attr
            if method == "get_paginator" and node.args and isinstance(node.args[0], ast.Constant):
                method = str(node.args[0].value)
            candidates = operations().get(method, [])
            if not candidates:
                continue
            named = _receiver_services(node)
            matching = [c for c in candidates if c[0] in named]
            if not matching:
                if method not in defined and method not in NOT_CLIENT_METHODS:
                    unresolved.append(f"{module}:{node.lineno}: {ast.unparse(node.func)}")
                continue
            if len(matching) > 1:
                raise AssertionError(f"{module}:{node.lineno}: {method} is ambiguous between {matching}")
            service, operation = matching[0]
            keywords = frozenset(k.arg for k in node.keywords if k.arg)
            found.append(ClientCall(service, operation, module, node.lineno, keywords))
    return Calls(found, unresolved)
