"""The stack: composes one construct per concern, tags everything and publishes the outputs the CLI reads."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack, Tags
from constructs import Construct

from infra.constants import StageConfig
from infra.constructs.monitoring import Monitoring
from infra.constructs.packaging import Packaging
from infra.constructs.pipeline import Pipeline
from infra.constructs.serving import Serving
from infra.constructs.storage import Storage
from infra.context import BuildContext
from infra.nag import LAMBDA_BASIC_EXECUTION, MANAGED_POLICY_RULE, acknowledge, acknowledge_iam_wildcards
from infra.resources import StackResources
from mlops.definition import outputs
from mlops.definition.description import API_FUNCTION, APP_NAME, FUNCTIONS


class MlopsStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, stage: StageConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, description=f"Serverless MLOps ({stage.name})", **kwargs)
        self.stage = stage
        self.storage = Storage(self, "Storage", stage=stage)
        self.resources = StackResources(key=self.storage.key)
        self.resources.buckets.update(self.storage.buckets)
        self.resources.tables.update(self.storage.tables)
        self.packaging = Packaging(self, "Packaging", stage=stage)
        self.resources.images["ml"] = self.packaging.image
        context = BuildContext(stage, self.resources, self.packaging, self.storage.failed_events)
        self.pipeline = Pipeline(self, "Pipeline", context)
        self.serving = Serving(self, "Serving", context)
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            context,
            api=self.serving.api,
            api_function=self.resources.function(API_FUNCTION),
        )
        Tags.of(self).add("project", APP_NAME)
        Tags.of(self).add("stage", stage.name)
        self._outputs()
        self._acknowledge_cdk_internals()
        acknowledge_iam_wildcards(self)

    def _outputs(self) -> None:
        for ref, output_name in outputs.RESOURCE_OUTPUTS.items():
            CfnOutput(
                self, output_name, value=self.resources.resolve(ref), description=f"{ref.kind} {ref.name}"
            )
        CfnOutput(self, outputs.API_URL, value=self.serving.api.url, description="inference API base URL")
        CfnOutput(
            self,
            outputs.API_KEY_ID,
            value=self.serving.api_key.key_id,
            description="the API key's id: aws apigateway get-api-key --api-key <id> --include-value",
        )
        for spec in FUNCTIONS:
            CfnOutput(
                self,
                outputs.function_output(spec.name),
                value=self.resources.function(spec.name).function_name,
                description=spec.description,
            )

    def _acknowledge_cdk_internals(self) -> None:
        """Findings on resources CDK adds on its own: the handler that configures bucket notifications."""
        for child in self.node.children:
            if child.node.id.startswith("BucketNotificationsHandler"):
                acknowledge(
                    child,
                    f"{MANAGED_POLICY_RULE}[Policy::{LAMBDA_BASIC_EXECUTION}]",
                    "CDK's handler that writes the data bucket's notification configuration at deploy time; "
                    "the managed policy only lets it write its own logs.",
                )
