"""One source of truth for the stack: its functions, resources and wiring.

The CDK app in ``infra/`` and the embedded stack (``mlops local up``) both build from these objects and
run the same Amazon States Language files (``pipeline.asl.json`` and ``rollout.asl.json``, beside this
module). Nothing else
lists functions, buckets, tables, environment variables or triggers. Pure data: no boto3, no CDK.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal

ResourceKind = Literal["bucket", "table", "state_machine", "stream", "function", "topic", "role", "image"]
# The CDK construct that builds a function (infra/constructs/<name>.py; the embedded stack builds them all):
# the pipeline's steps and what starts or ends runs, the inference API, and the drift monitor.
ConstructName = Literal["pipeline", "serving", "monitoring"]
CONSTRUCTS: tuple[ConstructName, ...] = ("pipeline", "serving", "monitoring")

APP_NAME = "mlops"
# Where a name pattern takes its stage: ``mlops-{stage}-drift-`` is ``mlops-prod-drift-`` in prod.
STAGE_FIELD = "{stage}"


@dataclass(frozen=True)
class Ref:
    """A reference to one of the stack's resources, resolved to a name or ARN by each builder."""

    kind: ResourceKind
    name: str
    attr: Literal["name", "arn", "uri", "executions"] = "name"  # executions: a state machine's runs


@dataclass(frozen=True)
class Staged:
    """A name pattern with the stage in it, for names the stack or its code creates.

    Two stages share an account, so every such name carries its stage: neither stage's names, nor the
    patterns that match them (alarm rules, IAM resources, metric namespaces), reach the other's.
    """

    pattern: str

    def __post_init__(self) -> None:
        if STAGE_FIELD not in self.pattern:
            raise ValueError(f"The name pattern {self.pattern!r} has no {STAGE_FIELD}.")

    def for_stage(self, stage: str) -> str:
        return with_stage(self.pattern, stage)


def with_stage(text: str, stage: str) -> str:
    """``text`` with every ``{stage}`` replaced (ARN patterns keep their ``${AWS::...}`` parts)."""
    return text.replace(STAGE_FIELD, stage)


EnvValue = Ref | Staged | str


@dataclass(frozen=True)
class BucketSpec:
    name: str
    purpose: str
    versioned: bool = True
    expire_days: int | None = None


@dataclass(frozen=True)
class TableSpec:
    name: str
    purpose: str
    partition_key: str = "pk"
    sort_key: str = "sk"
    indexes: tuple[tuple[str, str, str], ...] = ()  # (index name, partition key, sort key)
    ttl_attribute: str | None = "expires_at"


@dataclass(frozen=True)
class StreamSpec:
    """A Kinesis Data Firehose stream delivering to a bucket."""

    name: str
    bucket: str
    prefix: str
    error_prefix: str
    buffer_seconds: int = 60
    buffer_mb: int = 5


@dataclass(frozen=True)
class Permission:
    """An IAM permission beyond reading and writing the resources a function's environment names.

    ``resource`` is a Ref, or an ARN pattern in CloudFormation ``Fn::Sub`` syntax
    (``arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:...``); ``"*"`` only
    for actions that have no resource-level permissions, and then with a condition. Patterns and
    condition values may hold ``{stage}``, which ``for_stage`` fills in.
    """

    actions: tuple[str, ...]
    resource: Ref | str
    why: str
    condition: dict[str, dict[str, str]] = field(default_factory=dict)
    # Appended to a Ref's ARN: objects under a prefix of a bucket (``/batch/*``).
    path: str = ""

    def for_stage(self, stage: str) -> Permission:
        resource = self.resource if isinstance(self.resource, Ref) else with_stage(self.resource, stage)
        condition = {
            operator: {key: with_stage(value, stage) for key, value in values.items()}
            for operator, values in self.condition.items()
        }
        return Permission(self.actions, resource, self.why, condition, self.path)


@dataclass(frozen=True)
class RoleSpec:
    """An IAM role the stack creates for a service other than Lambda (SageMaker training jobs)."""

    name: str
    service: str
    purpose: str
    access: tuple[Ref, ...]  # buckets it reads and writes, images it pulls
    permissions: tuple[Permission, ...] = ()


@dataclass(frozen=True)
class ExtensionSpec:
    """A Lambda extension shipped in a layer: ``layers/<layer>/extensions/<name>`` is its executable,
    which runs ``<module>.main()``; the embedded stack runs the same module's ``run(runtime_api)``."""

    name: str
    layer: str
    module: str


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    description: str
    construct: ConstructName
    packaging: Literal["zip", "image"]
    layers: tuple[str, ...]
    env: dict[str, EnvValue]
    # Defaults safe for a new account (docs/deploy.md, "A new account"); a stage may raise them.
    memory_mb: int = 512
    timeout_s: int = 60
    # /tmp: Lambda's default is 512 MB; a function that spools a dataset's Parquet copy needs more.
    ephemeral_storage_mb: int = 512
    reserved_concurrency: int | None = None
    handler: str = "handler.handler"
    permissions: tuple[Permission, ...] = ()
    # Environment variables naming resources the function only reads (granted read, not read-write).
    read_only: tuple[str, ...] = ()
    # Published as a version with SnapStart, served through an alias (zip functions on Python 3.12+).
    snap_start: bool = False

    @property
    def code_dir(self) -> str:
        """The function's source folder, relative to the project root."""
        return f"functions/{self.name}"


@dataclass(frozen=True)
class StateMachineSpec:
    name: str
    definition_file: str
    substitutions: dict[str, Ref]
    # What its own states reach beyond invoking the functions it names (a Distributed Map's reader,
    # writer and child executions).
    permissions: tuple[Permission, ...] = ()


@dataclass(frozen=True)
class S3Notification:
    bucket: str
    prefix: str
    function: str


@dataclass(frozen=True)
class Schedule:
    """A fixed EventBridge schedule invoking a function with a constant input."""

    name: str
    expression: str
    function: str
    payload: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AlarmStateRule:
    """An EventBridge rule on CloudWatch alarm state changes for alarms whose names start with a prefix
    (the stage's own alarms only: the prefix carries the stage)."""

    name: str
    alarm_name_prefix: Staged
    state: str
    function: str


@dataclass(frozen=True)
class ExecutionStatusRule:
    """An EventBridge rule on a state machine's executions entering one of ``statuses``."""

    name: str
    state_machine: str
    statuses: tuple[str, ...]
    function: str


# ---- resources -------------------------------------------------------------------------------

DATA_BUCKET = BucketSpec(
    "data", "raw uploads (raw/<dataset>/), canonical Parquet versions, batch inputs and outputs (batch/)"
)
# Batch scoring reads and writes only under this prefix of the data bucket (its IAM scope).
BATCH_PREFIX = "batch/"
ARTIFACT_BUCKET = BucketSpec("artifacts", "models, validation and drift reports")
CAPTURE_BUCKET = BucketSpec("capture", "captured inference requests", versioned=False, expire_days=90)
BUCKETS: tuple[BucketSpec, ...] = (DATA_BUCKET, ARTIFACT_BUCKET, CAPTURE_BUCKET)

METADATA_TABLE = TableSpec(
    "metadata",
    "datasets, versions, runs, stages, models, aliases, lineage, drift reports",
    # gsi1: the global lists (datasets, runs, batch jobs, model names, a dataset's versions);
    # gsi2: the runs of one dataset (mlops.registry key layout).
    indexes=(("gsi1", "gsi1pk", "gsi1sk"), ("gsi2", "gsi2pk", "gsi2sk")),
)
TABLES: tuple[TableSpec, ...] = (METADATA_TABLE,)

# ---- names created at run time ------------------------------------------------------------------
# The stack's own resources are named ``mlops-<stage>-<name>`` by each builder; these are the names the
# functions create while they run, each with its stage (the STAGE_NAME every function gets).

# The drift function keeps a drift alarm and a live-quality alarm per model under these prefixes; its IAM
# scope and the retraining rule key on them.
DRIFT_ALARM_PREFIX = Staged(f"{APP_NAME}-{STAGE_FIELD}-drift-")
QUALITY_ALARM_PREFIX = Staged(f"{APP_NAME}-{STAGE_FIELD}-quality-")
# The rollout function keeps the candidate's error-rate and latency alarms under this prefix while a
# canary runs; the rollback rule keys on it.
ROLLOUT_ALARM_PREFIX = Staged(f"{APP_NAME}-{STAGE_FIELD}-rollout-")
# Custom metrics (drift statistics, live quality, the functions' Powertools metrics).
METRICS_NAMESPACE = Staged(f"Mlops/{STAGE_FIELD}")
# SageMaker training jobs (names are unique per account and region, for ever).
TRAINING_JOB_PREFIX = Staged(f"{APP_NAME}-{STAGE_FIELD}-job-")
# SageMaker Processing jobs: ingest and validation of uploads past PROCESSING_MIN_BYTES.
# Past this size an upload is ingested and validated by a processing job, not by the functions. The
# whole-file path holds about 6x the file (docs/performance.md) in the functions' 3,008 MB, so ~500 MiB
# would run out of memory; half of that leaves room for wide tables. At the measured ~15 MiB/s it takes
# ~20 s, well inside the functions' 300 s. A stage lowers or raises it with the variable.
PROCESSING_MIN_BYTES = 256 * 1024**2
PROCESSING_JOB_PREFIX = Staged(f"{APP_NAME}-{STAGE_FIELD}-ingest-")
RUN_TIME_NAMES: tuple[Staged, ...] = (
    DRIFT_ALARM_PREFIX,
    QUALITY_ALARM_PREFIX,
    ROLLOUT_ALARM_PREFIX,
    METRICS_NAMESPACE,
    TRAINING_JOB_PREFIX,
    PROCESSING_JOB_PREFIX,
)


def resource_name(stage: str, name: str) -> str:
    """The physical name of one of a stage's resources, e.g. ``mlops-dev-ingest``."""
    return f"{APP_NAME}-{stage}-{name}"


_ACCOUNT_ARN = "arn:${AWS::Partition}:{service}:${AWS::Region}:${AWS::AccountId}:{resource}"


def account_arn(service: str, resource: str) -> str:
    """An ARN pattern in this stack's account and region (``Fn::Sub`` syntax)."""
    return _ACCOUNT_ARN.replace("{service}", service).replace("{resource}", resource)


SAGEMAKER_ROLE = RoleSpec(
    "sagemaker",
    service="sagemaker.amazonaws.com",
    purpose="the execution role of SageMaker training and processing jobs, which run the ML image",
    access=(Ref("bucket", "data"), Ref("bucket", "artifacts"), Ref("image", "ml", "uri")),
    permissions=(
        Permission(
            ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"),
            account_arn("logs", "log-group:/aws/sagemaker/TrainingJobs:*"),
            why="SageMaker writes the training job's output to this fixed log group",
        ),
        Permission(
            ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"),
            account_arn("logs", "log-group:/aws/sagemaker/ProcessingJobs:*"),
            why="SageMaker writes the processing job's output to this fixed log group",
        ),
        Permission(
            ("cloudwatch:PutMetricData",),
            "*",
            why="SageMaker publishes training job metrics; PutMetricData has no resource-level scope",
            condition={"StringEquals": {"cloudwatch:namespace": "/aws/sagemaker/TrainingJobs"}},
        ),
    ),
)
ROLES: tuple[RoleSpec, ...] = (SAGEMAKER_ROLE,)

CAPTURE_STREAM = StreamSpec(
    "capture",
    bucket="capture",
    prefix="capture/",
    error_prefix="capture-errors/",
)
STREAMS: tuple[StreamSpec, ...] = (CAPTURE_STREAM,)

# ---- functions -------------------------------------------------------------------------------

# The inference function's captured lines leave the request path through a spool on /tmp, which this
# extension ships to the capture stream (mlops.serving.extension).
CAPTURE_EXTENSION = ExtensionSpec("mlops-capture", layer="capture", module="mlops.serving.extension")
EXTENSIONS: tuple[ExtensionSpec, ...] = (CAPTURE_EXTENSION,)

_COMMON: dict[str, EnvValue] = {
    "METADATA_TABLE": Ref("table", "metadata"),
    "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
    "POWERTOOLS_LOG_LEVEL": "INFO",
    # No pydantic plugins: without this, building the first model scans every installed package's
    # entry points for one, in every function's cold start.
    "PYDANTIC_DISABLE_PLUGINS": "__all__",
}
_PIPELINE: dict[str, EnvValue] = {
    **_COMMON,
    "DATA_BUCKET": Ref("bucket", "data"),
    "ARTIFACT_BUCKET": Ref("bucket", "artifacts"),
}
_STARTS_RUNS: dict[str, EnvValue] = {
    **_PIPELINE,
    "STATE_MACHINE_ARN": Ref("state_machine", "pipeline", "arn"),
}

_BATCH_DATA = Ref("bucket", "data", "arn")
BATCH_FUNCTION = FunctionSpec(
    "batch",
    "batch scoring: plans a job, scores its items with onnxruntime and pyarrow, writes the manifest",
    construct="pipeline",
    packaging="image",
    layers=("ml",),
    env={
        **_COMMON,
        "ARTIFACT_BUCKET": Ref("bucket", "artifacts"),
        "BATCH_PART_BYTES": str(64 * 1024 * 1024),
        "BATCH_MAX_CONCURRENCY": "10",
        "BATCH_TOLERATED_FAILURE_PERCENTAGE": "0",
        "BATCH_ITEMS_PER_BATCH": "4",
    },
    memory_mb=2048,
    timeout_s=900,
    permissions=(
        Permission(
            ("s3:GetObject", "s3:PutObject"),
            _BATCH_DATA,
            path=f"/{BATCH_PREFIX}*",
            why="reads batch inputs and writes outputs, parts and manifests under batch/ only",
        ),
        Permission(
            ("s3:ListBucket",),
            _BATCH_DATA,
            why="lists the objects of an input prefix under batch/",
            condition={"StringLike": {"s3:prefix": f"{BATCH_PREFIX}*"}},
        ),
    ),
)


def _pass_sagemaker_role(job: str) -> Permission:
    """Handing a SageMaker job the stack's SageMaker execution role, and only to SageMaker."""
    return Permission(
        ("iam:PassRole",),
        Ref("role", "sagemaker", "arn"),
        why=f"hands the {job} job its execution role",
        condition={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
    )


FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec(
        "ingest",
        "S3 upload under raw/<dataset>/ -> dataset version (sha256, schema, profile, Parquet) -> run",
        construct="pipeline",
        packaging="image",
        layers=("ml",),
        # PROCESSING_MIN_BYTES follows from this memory (see its definition).
        env={**_STARTS_RUNS, "PROCESSING_MIN_BYTES": str(PROCESSING_MIN_BYTES)},
        memory_mb=3008,
        timeout_s=300,
    ),
    FunctionSpec(
        "validation",
        "checks a dataset version against its config and earlier versions; writes the report; ingests "
        "and validates an upload past PROCESSING_MIN_BYTES as a SageMaker Processing job",
        construct="pipeline",
        packaging="image",
        layers=("ml",),
        env={
            **_PIPELINE,
            "SAGEMAKER_ROLE_ARN": Ref("role", "sagemaker", "arn"),
            "SAGEMAKER_IMAGE_URI": Ref("image", "ml", "uri"),
        },
        memory_mb=3008,
        timeout_s=300,
        # Validation streams the canonical Parquet through /tmp (hashed on the way): a version the
        # processing job ingested is revalidated here on a retrain, so /tmp holds the largest upload's copy.
        ephemeral_storage_mb=10240,
        permissions=(
            Permission(
                (
                    "sagemaker:CreateProcessingJob",
                    "sagemaker:DescribeProcessingJob",
                    "sagemaker:StopProcessingJob",
                ),
                account_arn("sagemaker", f"processing-job/{PROCESSING_JOB_PREFIX.pattern}*"),
                why="past PROCESSING_MIN_BYTES ingest and validation run as a processing job it polls",
            ),
            _pass_sagemaker_role("processing"),
        ),
    ),
    FunctionSpec(
        "training",
        "trains the scikit-learn pipeline inline or as a SageMaker training job",
        construct="pipeline",
        packaging="image",
        layers=("ml",),
        env={
            **_PIPELINE,
            "TRAINING_BACKEND": "inline",
            "INLINE_MAX_ROWS": "500000",
            "SAGEMAKER_ROLE_ARN": Ref("role", "sagemaker", "arn"),
            "SAGEMAKER_IMAGE_URI": Ref("image", "ml", "uri"),
        },
        # New accounts cap Lambda memory at 3,008 MB; a stage raises it once the quota allows.
        memory_mb=3008,
        timeout_s=900,
        permissions=(
            Permission(
                (
                    "sagemaker:CreateTrainingJob",
                    "sagemaker:DescribeTrainingJob",
                    "sagemaker:StopTrainingJob",
                    "sagemaker:AddTags",
                ),
                account_arn("sagemaker", f"training-job/{TRAINING_JOB_PREFIX.pattern}*"),
                why="past INLINE_MAX_ROWS the step runs as a SageMaker training job and polls it",
            ),
            _pass_sagemaker_role("training"),
        ),
    ),
    FunctionSpec(
        "conversion",
        "converts the trained pipeline to ONNX and proves parity with scikit-learn",
        construct="pipeline",
        packaging="image",
        layers=("ml",),
        env=dict(_PIPELINE),
        memory_mb=3008,
        timeout_s=600,
    ),
    FunctionSpec(
        "promotion",
        "reviews the candidate against production and moves the production alias or starts a canary",
        construct="pipeline",
        packaging="image",
        layers=("ml",),
        env={**_PIPELINE, "ROLLOUT_STATE_MACHINE_ARN": Ref("state_machine", "rollout", "arn")},
        memory_mb=2048,
        timeout_s=300,
    ),
    FunctionSpec(
        "failure",
        "records a failed run (reached by the state machine's Catch)",
        construct="pipeline",
        packaging="zip",
        layers=("core",),
        env=dict(_PIPELINE),
        memory_mb=256,
        timeout_s=30,
    ),
    FunctionSpec(
        "trigger",
        "starts a run on a dataset's latest version: manual, schedule or drift alarm",
        construct="pipeline",
        packaging="zip",
        layers=("core",),
        env=dict(_STARTS_RUNS),
        memory_mb=256,
        timeout_s=60,
    ),
    FunctionSpec(
        "reconcile",
        "ends ABORTED the runs whose execution ended or vanished without recording their end",
        construct="pipeline",
        packaging="zip",
        layers=("core",),
        env=dict(_STARTS_RUNS),
        memory_mb=256,
        timeout_s=60,
        permissions=(
            Permission(
                ("states:DescribeExecution",),
                Ref("state_machine", "pipeline", "executions"),
                why="the sweep asks each RUNNING run's execution whether it still runs",
            ),
        ),
    ),
    FunctionSpec(
        "inference",
        "the HTTPS inference API (records, instances, dataframe_split, Open Inference Protocol)",
        construct="serving",
        packaging="zip",
        layers=("core", "inference", CAPTURE_EXTENSION.layer),
        env={
            **_COMMON,
            "ARTIFACT_BUCKET": Ref("bucket", "artifacts"),
            "CAPTURE_STREAM": Ref("stream", "capture"),
            "CAPTURE_SAMPLE_RATE": "1.0",
            "ALIAS_TTL_SECONDS": "30",
            "VARIANT_METRICS_INTERVAL_SECONDS": "10",
        },
        memory_mb=1024,
        timeout_s=29,
        snap_start=True,
        permissions=(
            Permission(
                ("cloudwatch:PutMetricData",),
                "*",
                why="publishes each variant's requests, errors and p99 during a canary; PutMetricData has "
                "no resource-level scope",
                condition={"StringEquals": {"cloudwatch:namespace": METRICS_NAMESPACE.pattern}},
            ),
        ),
    ),
    FunctionSpec(
        "rollout",
        "runs a canary or shadow: arms the candidate's alarms, checks its guardrails (replaying captured "
        "traffic for a shadow), advances, completes, rolls back",
        construct="pipeline",
        packaging="zip",
        layers=("core", "inference"),
        env={
            **_COMMON,
            "METRICS_NAMESPACE": METRICS_NAMESPACE,
            "CAPTURE_BUCKET": Ref("bucket", "capture"),
            "ARTIFACT_BUCKET": Ref("bucket", "artifacts"),
        },
        # Reads captured requests and labels, and writes nothing there. The artifact bucket keeps the
        # read-write grant every function naming it has: the storage module the replay loads models
        # through also writes (the call check in tests/infra reads every call a function can reach).
        read_only=("CAPTURE_BUCKET",),
        memory_mb=1024,
        timeout_s=60,
        permissions=(
            Permission(
                ("cloudwatch:GetMetricStatistics",),
                "*",
                why="reads the candidate's figures; GetMetricStatistics has no resource-level scope",
            ),
            Permission(
                ("cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms"),
                account_arn("cloudwatch", f"alarm:{ROLLOUT_ALARM_PREFIX.pattern}*"),
                why="keeps the candidate's error-rate and latency alarms while its canary runs",
            ),
        ),
    ),
    FunctionSpec(
        "drift",
        "evaluates drift of captured traffic against the training baseline",
        construct="monitoring",
        packaging="zip",
        layers=("core", "drift"),
        env={
            **_COMMON,
            "ARTIFACT_BUCKET": Ref("bucket", "artifacts"),
            "CAPTURE_BUCKET": Ref("bucket", "capture"),
            "STATE_MACHINE_ARN": Ref("state_machine", "pipeline", "arn"),
            "METRICS_NAMESPACE": METRICS_NAMESPACE,
            "NOTIFICATION_TOPIC_ARN": Ref("topic", "notifications", "arn"),
        },
        # As many vCPUs as a new account's 3,008 MB memory quota allows (~1.7; one per 1,769 MB): the
        # capture reader parses on two threads, and a 1M-row window is CPU-bound (docs/performance.md,
        # "Drift evaluation").
        memory_mb=3008,
        timeout_s=300,
        permissions=(
            Permission(
                ("cloudwatch:PutMetricData",),
                "*",
                why="publishes drift statistics; PutMetricData has no resource-level scope",
                condition={"StringEquals": {"cloudwatch:namespace": METRICS_NAMESPACE.pattern}},
            ),
            Permission(
                ("cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms"),
                account_arn("cloudwatch", f"alarm:{DRIFT_ALARM_PREFIX.pattern}*"),
                why="keeps one drift alarm per model, which its drift metric raises",
            ),
            Permission(
                ("cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms"),
                account_arn("cloudwatch", f"alarm:{QUALITY_ALARM_PREFIX.pattern}*"),
                why="keeps one live-quality alarm per model once ground truth arrives",
            ),
        ),
    ),
    BATCH_FUNCTION,
    FunctionSpec(
        "batchtrigger",
        "starts a batch scoring job for each object put under batch/<model>/input/",
        construct="pipeline",
        packaging="zip",
        layers=("core",),
        env={**_COMMON, "BATCH_STATE_MACHINE_ARN": Ref("state_machine", "batch", "arn")},
        memory_mb=256,
        timeout_s=60,
    ),
)


# ---- orchestration and wiring ----------------------------------------------------------------

PIPELINE = StateMachineSpec(
    "pipeline",
    definition_file="pipeline.asl.json",
    substitutions={
        "ValidationFunctionArn": Ref("function", "validation", "arn"),
        "TrainingFunctionArn": Ref("function", "training", "arn"),
        "ConversionFunctionArn": Ref("function", "conversion", "arn"),
        "PromotionFunctionArn": Ref("function", "promotion", "arn"),
        "FailureFunctionArn": Ref("function", "failure", "arn"),
    },
)
# Batch scoring (docs/batch.md): a Distributed Map over the job's work items.
BATCH = StateMachineSpec(
    "batch",
    definition_file="batch.asl.json",
    substitutions={
        "BatchFunctionArn": Ref("function", "batch", "arn"),
        # Step Functions writes the map run's results under batch/_map-results/ (the workers' own
        # per-part results, which the manifest adds up, are under each job's output).
        "DataBucketName": Ref("bucket", "data"),
    },
    permissions=(
        Permission(
            ("s3:GetObject", "s3:PutObject"),
            _BATCH_DATA,
            path=f"/{BATCH_PREFIX}*",
            why="the map's ItemReader reads each job's item list; its ResultWriter writes under batch/",
        ),
        Permission(
            ("states:StartExecution",),
            account_arn("states", f"stateMachine:{APP_NAME}-{STAGE_FIELD}-batch"),
            why="a Distributed Map runs its items as child executions of its own state machine",
        ),
        Permission(
            ("states:DescribeExecution", "states:StopExecution"),
            account_arn("states", f"execution:{APP_NAME}-{STAGE_FIELD}-batch/*"),
            why="follows and stops the map's child executions",
        ),
    ),
)
ROLLOUT = StateMachineSpec(
    "rollout",
    definition_file="rollout.asl.json",
    substitutions={"RolloutFunctionArn": Ref("function", "rollout", "arn")},
)
STATE_MACHINES: tuple[StateMachineSpec, ...] = (PIPELINE, BATCH, ROLLOUT)

S3_NOTIFICATIONS: tuple[S3Notification, ...] = (
    S3Notification("data", "raw/", "ingest"),
    # Objects under batch/<model>/input/ start a job; the function ignores the rest of batch/.
    S3Notification("data", BATCH_PREFIX, "batchtrigger"),
)

# Per-dataset cadences (drift evaluation, scheduled retraining) live in each dataset's config; these
# fixed ticks invoke the functions that decide which datasets are due.
SCHEDULES: tuple[Schedule, ...] = (
    Schedule("drift-tick", "rate(15 minutes)", "drift", {"source": "schedule"}),
    Schedule("retraining-tick", "rate(15 minutes)", "trigger", {"source": "schedule"}),
    # A net under the execution status-change rule: an event lost on its way still gets its run ended.
    Schedule("reconcile-sweep", "rate(1 hour)", "reconcile", {"source": "sweep"}),
)

ALARM_RULES: tuple[AlarmStateRule, ...] = (
    AlarmStateRule("drift-alarm-retrain", DRIFT_ALARM_PREFIX, "ALARM", "trigger"),
    AlarmStateRule("rollout-alarm-rollback", ROLLOUT_ALARM_PREFIX, "ALARM", "rollout"),
)

# Executions that end without the pipeline recording their run's end (stopped, timed out, a runtime
# error no Catch sees): their runs end ABORTED (mlops.pipeline.reconcile).
EXECUTION_RULES: tuple[ExecutionStatusRule, ...] = (
    ExecutionStatusRule("pipeline-ended", PIPELINE.name, ("FAILED", "TIMED_OUT", "ABORTED"), "reconcile"),
)

# The function behind the HTTPS inference API (docs/inference.md): every route proxies to it.
API_FUNCTION = "inference"


def function(name: str) -> FunctionSpec:
    for spec in FUNCTIONS:
        if spec.name == name:
            return spec
    raise KeyError(f"no function named {name!r} in the stack description")


def functions_of(construct: ConstructName) -> tuple[FunctionSpec, ...]:
    """The functions a CDK construct builds, in the description's order."""
    return tuple(spec for spec in FUNCTIONS if spec.construct == construct)


def extensions_of(spec: FunctionSpec) -> tuple[ExtensionSpec, ...]:
    """The extensions a function's layers bring."""
    return tuple(e for e in EXTENSIONS if e.layer in spec.layers)


def state_machine_definition(spec: StateMachineSpec = PIPELINE) -> str:
    """The ASL text with its ``${...}`` placeholders, exactly as CDK's DefinitionBody takes it."""
    return resources.files("mlops.definition").joinpath(spec.definition_file).read_text(encoding="utf-8")


def project_root() -> Path:
    """The checkout holding ``functions/`` (the package is installed editable from it)."""
    return Path(__file__).resolve().parents[3]
