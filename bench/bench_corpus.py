"""Real tables through the embedded stack with ``--target``/``--task`` only (run by hand, not in tests).

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_corpus.py [--only NAME ...]

Every table ships inside an installed package (scikit-learn's bundled datasets, statsmodels'
datasets): nothing is downloaded. Each is written as a CSV and uploaded with
``mlops upload FILE --dataset NAME --target COL --task TASK --wait`` to the embedded stack (moto
in-process, the real handlers and state machine, default config). Per table it prints whether a
model reached production (or why not), the run's time, and the holdout score of the model next to
a plain scikit-learn baseline a user would write instead: ``HistGradientBoosting`` on every column
but the target (text columns as pandas categories), fitted on the same train rows and scored on the
same holdout rows (f1_macro for classification, rmse for regression).
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import statistics
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mlops.config import DatasetConfig, Task
from mlops.errors import TrainingFailed
from mlops.registry import Registry


@dataclass(frozen=True)
class Table:
    name: str
    source: str
    load: Callable[[], pd.DataFrame]
    target: str
    task: Task


def _sklearn(loader: str, target: str, names: bool = False) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import sklearn.datasets as sk

        bunch = getattr(sk, loader)(as_frame=True)
        frame: pd.DataFrame = bunch.frame.copy()
        if "target" in frame.columns:
            values = frame.pop("target")
            frame[target] = [str(bunch.target_names[int(v)]) for v in values] if names else values
        return frame

    return load


def _linnerud() -> pd.DataFrame:
    from sklearn.datasets import load_linnerud

    bunch = load_linnerud(as_frame=True)
    frame: pd.DataFrame = pd.concat([bunch.data, bunch.target], axis=1)
    return frame


def _statsmodels(name: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import statsmodels.api as sm

        return pd.DataFrame(getattr(sm.datasets, name).load_pandas().data)

    return load


def _fertility() -> pd.DataFrame:
    frame = _statsmodels("fertility")()
    return frame[frame["2011"].notna()].drop(columns=["2012", "2013"])


TABLES: tuple[Table, ...] = (
    Table("iris", "sklearn", _sklearn("load_iris", "species", names=True), "species", "classification"),
    Table("wine", "sklearn", _sklearn("load_wine", "cultivar", names=True), "cultivar", "classification"),
    Table(
        "breast-cancer",
        "sklearn",
        _sklearn("load_breast_cancer", "diagnosis", True),
        "diagnosis",
        "classification",
    ),
    Table("digits", "sklearn", _sklearn("load_digits", "digit"), "digit", "classification"),
    Table("diabetes", "sklearn", _sklearn("load_diabetes", "progression"), "progression", "regression"),
    Table("linnerud", "sklearn", _linnerud, "Weight", "regression"),
    Table("anes96-vote", "statsmodels", _statsmodels("anes96"), "vote", "classification"),
    Table("anes96-party", "statsmodels", _statsmodels("anes96"), "PID", "classification"),
    Table("modechoice", "statsmodels", _statsmodels("modechoice"), "choice", "classification"),
    Table("fair", "statsmodels", _statsmodels("fair"), "affairs", "regression"),
    Table("fair-marriage", "statsmodels", _statsmodels("fair"), "rate_marriage", "classification"),
    Table("randhie", "statsmodels", _statsmodels("randhie"), "mdvis", "regression"),
    Table("star98", "statsmodels", _statsmodels("star98"), "NABOVE", "regression"),
    Table("engel", "statsmodels", _statsmodels("engel"), "foodexp", "regression"),
    Table("cancer", "statsmodels", _statsmodels("cancer"), "cancer", "regression"),
    Table("grunfeld", "statsmodels", _statsmodels("grunfeld"), "invest", "regression"),
    Table("macrodata", "statsmodels", _statsmodels("macrodata"), "unemp", "regression"),
    Table("ccard", "statsmodels", _statsmodels("ccard"), "AVGEXP", "regression"),
    Table("heart", "statsmodels", _statsmodels("heart"), "survival", "regression"),
    Table("strikes", "statsmodels", _statsmodels("strikes"), "duration", "regression"),
    Table("elnino", "statsmodels", _statsmodels("elnino"), "DEC", "regression"),
    Table("danish", "statsmodels", _statsmodels("danish_data"), "lrm", "regression"),
    Table("interest-inflation", "statsmodels", _statsmodels("interest_inflation"), "R", "regression"),
    Table("statecrime", "statsmodels", _statsmodels("statecrime"), "violent", "regression"),
    Table("fertility", "statsmodels", _fertility, "2011", "regression"),
    Table("spector", "statsmodels", _statsmodels("spector"), "GRADE", "classification"),
    Table("stackloss", "statsmodels", _statsmodels("stackloss"), "STACKLOSS", "regression"),
    Table("longley", "statsmodels", _statsmodels("longley"), "TOTEMP", "regression"),
)


def baseline_score(frame: pd.DataFrame, config: DatasetConfig) -> float | None:
    """Plain HistGradientBoosting on the pipeline's own train/holdout split of the labelled rows."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    from mlops.ml.features import class_labels
    from mlops.ml.training import holdout_split, metrics, regression_targets
    from mlops.ml.validation import prepare_frame

    prepared = prepare_frame(frame, config)
    labelled = prepared[prepared[config.target].notna()].reset_index(drop=True)
    if config.task == "classification":
        y = class_labels(labelled[config.target])
    else:
        y = regression_targets(labelled[config.target])
    try:
        train_index, holdout_index = holdout_split(y, config)
    except TrainingFailed:  # too few rows to split: no baseline either
        return None
    x = labelled.drop(columns=[config.target])
    for column in x.columns:
        if not pd.api.types.is_numeric_dtype(x[column]):
            x[column] = x[column].astype("category")
    model: HistGradientBoostingClassifier | HistGradientBoostingRegressor
    if config.task == "classification":
        model = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=config.seed)
    else:
        model = HistGradientBoostingRegressor(categorical_features="from_dtype", random_state=config.seed)
    model.fit(x.iloc[train_index], y[train_index])
    predicted = model.predict(x.iloc[holdout_index])
    scores = metrics(config.task, y[holdout_index], predicted, None, None)
    return scores.get(config.promotion_metric)


@dataclass
class Result:
    table: Table
    rows: int
    columns: int
    production: bool
    reason: str
    seconds: float | None
    metric: str
    score: float | None
    baseline: float | None

    @property
    def relative(self) -> float | None:
        """How much better (+) or worse (-) than the baseline, as a share of the baseline's score."""
        if self.score is None or self.baseline is None or self.baseline == 0:
            return None
        if self.metric == "rmse":
            return (self.baseline - self.score) / self.baseline
        return (self.score - self.baseline) / self.baseline


def run_table(table: Table, registry: Registry, workdir: Path) -> Result:
    from mlops.cli.main import main

    frame = table.load()
    path = workdir / f"{table.name}.csv"
    frame.to_csv(path, index=False)
    config = DatasetConfig(target=table.target, task=table.task)
    argv = ["upload", str(path), "--dataset", table.name, "--target", table.target, "--task", table.task]
    out, err = io.StringIO(), io.StringIO()
    main([*argv, "--wait", "--timeout", "900"], out=out, err=err)
    runs = registry.runs.list_runs(table.name, limit=1)
    run = runs[0] if runs else None
    production = registry.models.get_production(table.name)
    model = (
        registry.models.find_model_version(table.name, run.model_version)
        if run and run.model_version
        else None
    )
    if production is not None:
        reason = "promoted"
    elif run is not None:
        reason = run.error or run.decision or run.status
    else:
        reason = err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else "no run"
    seconds = (run.ended_at - run.started_at).total_seconds() if run and run.ended_at else None
    metric = config.promotion_metric
    return Result(
        table=table,
        rows=len(frame),
        columns=len(frame.columns),
        production=production is not None,
        reason=reason,
        seconds=seconds,
        metric=metric,
        score=model.metrics.get(metric) if model else None,
        baseline=baseline_score(frame, config),
    )


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def report(results: list[Result]) -> None:
    print(
        "| table | source | rows x cols | target (task) | production | run s | metric | model | baseline | vs baseline | reason |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        relative = r.relative
        print(
            f"| {r.table.name} | {r.table.source} | {r.rows} x {r.columns} | {r.table.target} ({r.table.task}) "
            f"| {'yes' if r.production else 'no'} | {_number(r.seconds)} | {r.metric} | {_number(r.score)} "
            f"| {_number(r.baseline)} | {'-' if relative is None else f'{relative:+.1%}'} "
            f"| {'' if r.production else r.reason} |"
        )
    compared = [r.relative for r in results if r.relative is not None]
    promoted = sum(r.production for r in results)
    print(f"\n{promoted} of {len(results)} tables reached production.")
    if compared:
        print(
            f"median relative score against the baseline: {statistics.median(compared):+.2%} over {len(compared)} tables"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", metavar="NAME", help="run these tables only")
    args = parser.parse_args()
    tables = [t for t in TABLES if not args.only or t.name in args.only]

    from moto import mock_aws

    from mlops import aws
    from mlops.local import patches
    from mlops.local.embedded import configure_environment, start_embedded

    os.environ.pop("AWS_ENDPOINT_URL", None)
    configure_environment(None)
    moto_config: Any = {
        "stepfunctions": {"execute_state_machine": True},
        "lambda": {"use_docker": False},
    }
    results: list[Result] = []
    with mock_aws(config=moto_config), tempfile.TemporaryDirectory() as tmp:
        aws.reset_clients()
        embedded = start_embedded()
        # The functions' structured logs (a refused table logs its failure) would bury the table.
        from mlops.observability import logger

        logger.setLevel(logging.CRITICAL)
        try:
            registry = Registry(embedded.stack.outputs["MetadataTableName"])
            for table in tables:
                result = run_table(table, registry, Path(tmp))
                print(
                    f"{table.name}: {'production' if result.production else result.reason}",
                    file=sys.stderr,
                    flush=True,
                )
                results.append(result)
        finally:
            embedded.runtime.shutdown()
            patches.uninstall()
    report(results)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
