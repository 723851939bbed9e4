"""The SageMaker training job's instance type: what the config names, or sized from the table."""

from __future__ import annotations

import pytest

from mlops.config import DatasetConfig
from mlops.errors import TrainingFailed
from mlops.pipeline.sagemaker import TRAINING_INSTANCES, training_instance

STACK_DEFAULT = "ml.m5.xlarge"


def test_auto_keeps_the_stack_default_for_a_table_it_holds() -> None:
    assert training_instance("auto", STACK_DEFAULT, rows=500_001, columns=20) == STACK_DEFAULT
    # A 1 GiB upload of mixed columns (~10M rows x 20) still fits the 16 GiB default.
    assert training_instance("auto", STACK_DEFAULT, rows=10_000_000, columns=20) == STACK_DEFAULT


def test_auto_moves_up_the_sizes_as_the_table_grows() -> None:
    # The largest upload the stack accepts (2 GiB, ~20M rows x 20) needs the next size.
    assert training_instance("auto", STACK_DEFAULT, rows=20_000_000, columns=20) == "ml.m5.2xlarge"
    assert training_instance("auto", STACK_DEFAULT, rows=40_000_000, columns=20) == "ml.m5.4xlarge"
    chosen = [
        training_instance("auto", "ml.m5.large", rows=rows, columns=20) for rows in (10**5, 10**7, 10**8)
    ]
    order = [name for name, _ in TRAINING_INSTANCES]
    assert [order.index(name) for name in chosen] == sorted(order.index(name) for name in chosen)


def test_the_stack_default_is_a_floor_and_a_named_type_is_used_as_it_is() -> None:
    assert training_instance("auto", "ml.m5.4xlarge", rows=100, columns=3) == "ml.m5.4xlarge"
    assert training_instance("auto", "ml.c5.9xlarge", rows=10**9, columns=50) == "ml.c5.9xlarge"
    assert training_instance("ml.r5.4xlarge", STACK_DEFAULT, rows=10**9, columns=50) == "ml.r5.4xlarge"


def test_a_table_no_size_holds_fails_before_a_job_starts() -> None:
    with pytest.raises(
        TrainingFailed, match=r"1,000,000,000 rows x 100 columns needs about \d+ GiB.*ml.m5.24xlarge"
    ):
        training_instance("auto", STACK_DEFAULT, rows=10**9, columns=100)


@pytest.mark.parametrize(
    "value", ["m5.xlarge", "ml.m5", "ML.M5.XLARGE", "auto ", "ml.m5.xlarge; rm", "ml.m5." + "x" * 10_000]
)
def test_the_config_refuses_what_is_not_an_instance_type(value: str) -> None:
    with pytest.raises(ValueError, match="training_instance"):
        DatasetConfig(target="y", training_instance=value)
