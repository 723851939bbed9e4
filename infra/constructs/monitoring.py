"""Monitoring: the drift function, the description's schedules and alarm-state rules, the alarms on
pipeline failures, inference errors and latency and failed events, and the topic they notify."""

from __future__ import annotations

from aws_cdk import Aws, Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.constants import (
    ALARM_PERIOD,
    API_LATENCY_P99_MS,
    NOTIFICATION_TOPIC,
)
from infra.constructs.function import ASYNC_RETRY_ATTEMPTS, SpecFunction
from infra.context import BuildContext
from mlops.definition.description import (
    ALARM_RULES,
    EXECUTION_RULES,
    SCHEDULES,
    STATE_MACHINES,
    AlarmStateRule,
    ExecutionStatusRule,
    Schedule,
    functions_of,
)

ALARM_STATE_CHANGE = "CloudWatch Alarm State Change"
CLOUDWATCH_PRINCIPAL = "cloudwatch.amazonaws.com"
EXECUTION_STATUS_CHANGE = "Step Functions Execution Status Change"
EVENT_MAX_AGE = Duration.hours(2)


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        context: BuildContext,
        *,
        api: apigw.RestApi,
        api_function: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        self._stage = stage = context.stage
        self._resources = resources = context.resources
        self._failed_events = failed_events = context.failed_events
        self.topic = sns.Topic(
            self,
            "Notifications",
            topic_name=stage.resource_name(NOTIFICATION_TOPIC),
            display_name=f"{stage.resource_name('notifications')}: pipeline, inference and drift alarms",
            master_key=resources.key,
            enforce_ssl=True,
        )
        # The topic's policy replaces SNS's default one (enforce_ssl writes it), so CloudWatch may publish
        # only when allowed here: for the stage's own alarms (the stack's and those its code creates,
        # all named mlops-<stage>-...), from this account.
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[iam.ServicePrincipal(CLOUDWATCH_PRINCIPAL)],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "ArnLike": {"aws:SourceArn": self.alarm_arn_pattern()},
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                },
            )
        )
        # CloudWatch alarms publish to the encrypted topic with the stack's key.
        resources.key.grant(iam.ServicePrincipal(CLOUDWATCH_PRINCIPAL), "kms:Decrypt", "kms:GenerateDataKey*")
        resources.topics[NOTIFICATION_TOPIC] = self.topic
        self.functions = {spec.name: SpecFunction(self, spec, context) for spec in functions_of("monitoring")}
        for schedule in SCHEDULES:
            self._schedule(schedule)
        for rule in ALARM_RULES:
            self._alarm_rule(rule)
        for execution_rule in EXECUTION_RULES:
            self._execution_rule(execution_rule)
        self.alarms: list[cloudwatch.Alarm] = []
        self._pipeline_alarms()
        self._inference_alarms(api, api_function)
        self._alarm(
            "FailedEvents",
            "events that asynchronously invoked functions or rule targets failed on (see the queue)",
            failed_events.metric_approximate_number_of_messages_visible(
                period=ALARM_PERIOD, statistic="Maximum"
            ),
        )

    def alarm_arn_pattern(self) -> str:
        """Every alarm of this stage: the stack's (``mlops-<stage>-<Name>``) and the run-time ones."""
        return f"arn:{Aws.PARTITION}:cloudwatch:{Aws.REGION}:{Aws.ACCOUNT_ID}:alarm:{self._stage.resource_name('*')}"

    def _target(self, function_name: str, event: events.RuleTargetInput | None) -> targets.LambdaFunction:
        return targets.LambdaFunction(
            self._resources.function(function_name),
            event=event,
            dead_letter_queue=self._failed_events,
            retry_attempts=ASYNC_RETRY_ATTEMPTS,
            max_event_age=EVENT_MAX_AGE,
        )

    def _schedule(self, schedule: Schedule) -> None:
        events.Rule(
            self,
            f"Schedule-{schedule.name}",
            rule_name=self._stage.resource_name(schedule.name),
            description=f"{schedule.name}: invokes {schedule.function} {schedule.expression}",
            schedule=events.Schedule.expression(schedule.expression),
            targets=[self._target(schedule.function, events.RuleTargetInput.from_object(schedule.payload))],
        )

    def _alarm_rule(self, rule: AlarmStateRule) -> None:
        # The stage's own alarms only: in an account shared with another stage, its alarms never match.
        prefix = rule.alarm_name_prefix.for_stage(self._stage.name)
        events.Rule(
            self,
            f"AlarmRule-{rule.name}",
            rule_name=self._stage.resource_name(rule.name),
            description=f"{rule.name}: alarms named {prefix}* entering {rule.state} -> {rule.function}",
            event_pattern=events.EventPattern(
                source=["aws.cloudwatch"],
                detail_type=[ALARM_STATE_CHANGE],
                detail={
                    "alarmName": events.Match.prefix(prefix),
                    "state": {"value": [rule.state]},
                },
            ),
            targets=[self._target(rule.function, None)],
        )

    def _execution_rule(self, rule: ExecutionStatusRule) -> None:
        machine = self._resources.state_machine(rule.state_machine)
        events.Rule(
            self,
            f"ExecutionRule-{rule.name}",
            rule_name=self._stage.resource_name(rule.name),
            description=f"{rule.name}: {rule.state_machine} executions ending {', '.join(rule.statuses)} "
            f"-> {rule.function}",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=[EXECUTION_STATUS_CHANGE],
                detail={"stateMachineArn": [machine.state_machine_arn], "status": list(rule.statuses)},
            ),
            targets=[self._target(rule.function, None)],
        )

    def _alarm(self, name: str, what: str, metric: cloudwatch.IMetric, threshold: float = 1) -> None:
        alarm = cloudwatch.Alarm(
            self,
            f"{name}Alarm",
            alarm_name=self._stage.resource_name(name),
            alarm_description=f"{self._stage.resource_name(name)}: {what}",
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
        self.alarms.append(alarm)

    def _pipeline_alarms(self) -> None:
        for spec in STATE_MACHINES:
            machine = self._resources.state_machine(spec.name)
            title = spec.name.capitalize()
            self._alarm(
                f"{title}Failed",
                f"{spec.name} runs failed",
                machine.metric_failed(period=ALARM_PERIOD, statistic="Sum"),
            )
            self._alarm(
                f"{title}TimedOut",
                f"{spec.name} runs timed out",
                machine.metric_timed_out(period=ALARM_PERIOD, statistic="Sum"),
            )

    def _inference_alarms(self, api: apigw.RestApi, api_function: lambda_.IFunction) -> None:
        self._alarm(
            "InferenceErrors",
            "the inference function raised (it answers every bad input with a 4xx, so any error is a bug)",
            api_function.metric_errors(period=ALARM_PERIOD, statistic="Sum"),
        )
        self._alarm(
            "Api5xx",
            "the inference API answered 5xx",
            api.metric_server_error(period=ALARM_PERIOD, statistic="Sum"),
        )
        self._alarm(
            "ApiLatency",
            f"p99 latency of the inference API above {API_LATENCY_P99_MS} ms",
            api.metric_latency(period=ALARM_PERIOD, statistic="p99"),
            threshold=API_LATENCY_P99_MS,
        )
