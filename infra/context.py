"""What every construct that builds functions takes from the stack, in one object."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import aws_sqs as sqs

from infra.constants import StageConfig
from infra.constructs.packaging import Packaging
from infra.resources import StackResources


@dataclass(frozen=True)
class BuildContext:
    """The stage's settings, the resources built so far (where constructs register what they build and
    resolve the description's references), the layers and image functions run on, and the queue that
    keeps the events asynchronous invocations failed on."""

    stage: StageConfig
    resources: StackResources
    packaging: Packaging
    failed_events: sqs.IQueue
