"""The account's and region's singletons, in their own stack: deployed once, whatever stages share them.

API Gateway writes execution and access logs with one CloudWatch role per account and region
(``AWS::ApiGateway::Account``). In a stage's stack, the last stage deployed would own it and deleting
that stage would leave the others logging through a deleted role; here no stage owns it.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.nag import API_GATEWAY_LOGS, MANAGED_POLICY_RULE, acknowledge
from mlops.definition.description import APP_NAME

API_GATEWAY_PRINCIPAL = "apigateway.amazonaws.com"


class AccountStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(
            scope,
            construct_id,
            description=f"Serverless MLOps: account and region settings shared by every {APP_NAME} stage",
            **kwargs,
        )
        self.api_gateway_role = iam.Role(
            self,
            "ApiGatewayCloudWatchRole",
            assumed_by=iam.ServicePrincipal(API_GATEWAY_PRINCIPAL),
            description="API Gateway's account-wide role for writing execution and access logs",
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(
                    "service-role/AmazonAPIGatewayPushToCloudWatchLogs"
                )
            ],
        )
        # Kept if this stack is deleted: the account setting would still point at it.
        self.api_gateway_role.apply_removal_policy(RemovalPolicy.RETAIN)
        self.api_gateway_account = apigw.CfnAccount(
            self, "ApiGatewayAccount", cloud_watch_role_arn=self.api_gateway_role.role_arn
        )
        acknowledge(
            self.api_gateway_role,
            f"{MANAGED_POLICY_RULE}[Policy::{API_GATEWAY_LOGS}]",
            "API Gateway's account-wide role for writing access and execution logs uses the AWS managed "
            "policy made for exactly that (AmazonAPIGatewayPushToCloudWatchLogs).",
        )
