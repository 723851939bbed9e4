"""Settings read from the environment: typed, defaults as declared, and a refusal in one sentence."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator

import pytest

from mlops.settings import InferenceSettings, TrainingSettings, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    names = {f.name for cls in (InferenceSettings, TrainingSettings) for f in dataclasses.fields(cls)}
    for key in [k for k in os.environ if k.lower() in names]:
        monkeypatch.delenv(key)
    load_settings.cache_clear()
    yield monkeypatch
    load_settings.cache_clear()


def test_each_field_is_read_from_its_variable_and_converted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METADATA_TABLE", "meta")
    monkeypatch.setenv("ARTIFACT_BUCKET", "artifacts")
    monkeypatch.setenv("ALIAS_TTL_SECONDS", "2.5")
    monkeypatch.setenv("max_batch_rows", " 500 ")  # any case, as before
    settings = load_settings(InferenceSettings)
    assert settings == InferenceSettings(
        metadata_table="meta", artifact_bucket="artifacts", alias_ttl_seconds=2.5, max_batch_rows=500
    )
    assert settings.capture_stream == "" and settings.max_payload_bytes == 6 * 1024 * 1024
    assert load_settings(InferenceSettings) is settings  # read once per process


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        (
            {"ARTIFACT_BUCKET": "a"},
            "The environment variable METADATA_TABLE is not set; this function needs it.",
        ),
        (
            {"METADATA_TABLE": "m", "ARTIFACT_BUCKET": "a", "MAX_BATCH_ROWS": "many"},
            "The environment variable MAX_BATCH_ROWS is 'many', not an integer.",
        ),
        (
            {"METADATA_TABLE": "m", "ARTIFACT_BUCKET": "a", "ALIAS_TTL_SECONDS": "soon"},
            "The environment variable ALIAS_TTL_SECONDS is 'soon', not a number.",
        ),
    ],
)
def test_a_missing_or_malformed_variable_is_refused_in_one_sentence(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], message: str
) -> None:
    for key, value in variables.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValueError) as refused:
        load_settings(InferenceSettings)
    assert str(refused.value) == message


def test_a_choice_outside_its_literal_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {"METADATA_TABLE": "m", "ARTIFACT_BUCKET": "a", "DATA_BUCKET": "d"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("TRAINING_BACKEND", "spark")
    with pytest.raises(
        ValueError, match=r"^The environment variable TRAINING_BACKEND is 'spark', not one of "
    ):
        load_settings(TrainingSettings)
    monkeypatch.setenv("TRAINING_BACKEND", "sagemaker")
    load_settings.cache_clear()
    assert load_settings(TrainingSettings).training_backend == "sagemaker"
