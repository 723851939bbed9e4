"""Benchmark of the figures behind design choices (run by hand, not in tests).

    .venv/bin/python bench/bench_design.py [--rows 100000] [--repeat 7]

Each choice against what a user would write instead, in the same run (docs/performance.md, "Figures
behind design choices"):

- categorical columns for tree models: one ordinal code per column (``mlops.ml.training``) against
  one-hot columns, in the same pipeline otherwise, on ``bench_training``'s generated data: CPU seconds
  to fit and ROC AUC on a seeded holdout;
- cold-start costs, each in a fresh interpreter (CPU seconds, which a loaded machine inflates less than
  the wall clock; median of ``--repeat``, the interpreter's own start excluded): botocore's client against boto3's (``mlops.aws``), a Powertools Tracer against none
  (``mlops.observability``), settings as a frozen dataclass read from the environment against
  pydantic-settings (``mlops.function_settings``).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import OneHotEncoder

# The training bench beside this script: the same generated data as its figures.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_training import generate_csv

from mlops.config import DatasetConfig
from mlops.ml import dataset, training
from mlops.ml.features import prepare_features

# What each fresh interpreter times: (what the project does, what a user would write instead).
IMPORT_CASES: dict[str, tuple[str, str]] = {
    "S3 client: botocore vs boto3": (
        "import botocore.session; botocore.session.get_session().create_client('s3', region_name='us-east-1')",
        "import boto3; boto3.client('s3', region_name='us-east-1')",
    ),
    "Logger + Metrics, without vs with a Tracer": (
        "from aws_lambda_powertools import Logger, Metrics; Logger(service='b'); Metrics(service='b')",
        "from aws_lambda_powertools import Logger, Metrics, Tracer; Logger(service='b'); "
        "Metrics(service='b'); Tracer(service='b')",
    ),
    "settings: dataclass reader vs pydantic-settings": (
        "import os\nos.environ['METADATA_TABLE'] = 't'\n"
        "from mlops.function_settings import FunctionSettings, load_settings\nload_settings(FunctionSettings)",
        "import os\nos.environ['METADATA_TABLE'] = 't'\n"
        "from pydantic_settings import BaseSettings\nclass S(BaseSettings):\n    metadata_table: str\nS()",
    ),
}
# A Lambda environment, so Powertools' Tracer does not switch itself off as it does elsewhere.
LAMBDA_ENV = {"AWS_LAMBDA_FUNCTION_NAME": "bench", "AWS_DEFAULT_REGION": "us-east-1"}


def encoding(rows: int, seed: int) -> None:
    frame = dataset.read_csv_bytes(generate_csv(rows, seed))
    config = DatasetConfig.model_validate({"target": "label", "estimator": "hist_gradient_boosting"})
    features = [column for column in frame.columns if column != "label"]
    signature = training.train(frame, config, features).signature
    x = prepare_features(frame, signature)
    y = (frame["label"] == "positive").to_numpy()
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=seed, stratify=y)
    ordinal = training.build_pipeline(config, [feature.kind for feature in signature.features])
    one_hot = clone(ordinal).set_params(
        features__categorical=OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    )
    print(f"\n{rows:,} rows, {len(features)} features (5 categorical, 3 to 35 categories)")
    print(f"{'encoding':<10} {'fit CPU s':>10} {'ROC AUC':>8}")
    cpu: dict[str, float] = {}
    for name, pipeline in (("ordinal", ordinal), ("one-hot", one_hot)):
        started = time.process_time()
        pipeline.fit(x_train, y_train)
        cpu[name] = time.process_time() - started
        auc = roc_auc_score(y_test, pipeline.predict_proba(x_test)[:, 1])
        print(f"{name:<10} {cpu[name]:>10.2f} {auc:>8.4f}")
    print(f"one-hot / ordinal fit CPU: {cpu['one-hot'] / cpu['ordinal']:.1f}x")


def import_seconds(statement: str, repeat: int) -> float:
    probe = (
        "import time\nstarted = time.process_time()\n"
        f"exec({statement!r})\nprint(time.process_time() - started)"
    )
    env = {**LAMBDA_ENV, "PATH": "/usr/bin:/bin"}
    runs = [
        float(
            subprocess.run(
                [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(repeat)
    ]
    return statistics.median(runs)


def imports(repeat: int) -> None:
    print(f"\nfresh interpreter, median of {repeat}, CPU seconds")
    print(f"{'case':<46} {'project':>8} {'instead':>8} {'difference':>10}")
    for case, (project, instead) in IMPORT_CASES.items():
        ours, theirs = import_seconds(project, repeat), import_seconds(instead, repeat)
        print(f"{case:<46} {ours:>8.3f} {theirs:>8.3f} {theirs - ours:>10.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    imports(args.repeat)
    encoding(args.rows, args.seed)


if __name__ == "__main__":
    main()
