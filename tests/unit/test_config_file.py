"""The dataset config as a YAML file: round trip, one-sentence errors, the diff."""

from __future__ import annotations

import json

import pytest
import yaml

from mlops.config import DatasetConfig
from mlops.configfile import config_diff, config_to_yaml, parse_config
from mlops.errors import ConfigError


def test_yaml_to_config_to_yaml_round_trips() -> None:
    config = parse_config(
        "target: default\ntask: regression\nestimator: ridge\nparams: {alpha: 0.5}\n"
        "validation:\n  feature_missing: {severity: fail, max_ratio: 0.3}\n"
        "retraining:\n  schedule: rate(7 days)\n",
        "config.yaml",
    )
    text = config_to_yaml(config)
    assert parse_config(text, "again.yaml") == config
    assert config_to_yaml(parse_config(text, "again.yaml")) == text
    document = yaml.safe_load(text)
    assert document["validation"]["feature_missing"] == {"severity": "fail", "max_ratio": 0.3}
    assert document["validation"]["duplicate_rows"] == {
        "severity": "warn",
        "max_ratio": 0.0,
    }  # defaults shown


def test_fields_left_out_take_their_defaults_and_overrides_win() -> None:
    config = parse_config("target: a\n", "c.yaml", {"target": "b", "task": "regression"})
    assert config == DatasetConfig(target="b", task="regression")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "target: y\ntask: clustering\n",
            "c.yaml: task must be 'classification' or 'regression', not 'clustering'.",
        ),
        ("task: regression\n", "c.yaml: target is required."),
        (
            "target: y\nvalidation:\n  max_dupes: 0.2\n",
            "c.yaml: validation.max_dupes is not a config field; validation takes min_rows, target_missing,",
        ),
        (
            "target: y\nvalidation:\n  feature_missing: {max_ratio: 2}\n",
            "c.yaml: validation.feature_missing.max_ratio should be less than or equal to 1, not 2.",
        ),
        (
            "target: y\nestimator: ridge\n",
            "c.yaml: estimator 'ridge' does not do classification; use one of auto, hist_gradient_boosting,",
        ),
        (
            "target: y\npromotion: {metric: rmse}\n",
            "c.yaml: promotion.metric 'rmse' is not a classification metric; use one of f1_macro",
        ),
        (
            "target: y\nretraining: {schedule: weekly}\n",
            "c.yaml: retraining.schedule: Schedule 'weekly' is not",
        ),
        ("target: [y\n", "c.yaml is not valid YAML at line 2, column 1:"),
        ("- target\n", "c.yaml must be a mapping of config fields"),
    ],
)
def test_a_bad_file_is_one_sentence_naming_the_field(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "c.yaml")
    assert str(caught.value).startswith(message), str(caught.value)
    assert "\n" not in str(caught.value) and str(caught.value).endswith(".")


def test_binary_or_huge_files_are_refused() -> None:
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        parse_config(b"\xff\xfe\x00t", "c.yaml")
    with pytest.raises(ConfigError, match="a config file is at most"):
        parse_config(b"#" * 70_000, "c.yaml")


def test_diff_shows_only_what_changed() -> None:
    before = DatasetConfig(target="y")
    after = DatasetConfig.model_validate(
        {"target": "y", "validation": {"duplicate_rows": {"severity": "fail"}}}
    )
    diff = config_diff(before, after, "ds")
    assert "-    severity: warn\n+    severity: fail\n" in diff
    assert (
        sum(line.startswith(("-", "+")) and not line.startswith(("---", "+++")) for line in diff.splitlines())
        == 2
    )
    assert config_diff(after, after, "ds") == ""
    assert config_diff(None, before, "ds").startswith("--- ds (none yet)\n+++ ds (new)\n")


def test_the_json_schema_describes_the_rules() -> None:
    schema = DatasetConfig.model_json_schema()
    json.dumps(schema)
    rule = schema["$defs"]["FeatureMissingRule"]["properties"]["severity"]
    assert rule["enum"] == ["fail", "warn", "off"] and rule["default"] == "warn"
