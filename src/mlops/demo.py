"""``make demo``: the whole lifecycle on the embedded stack, driven through the ``mlops`` CLI.

Starts ``mlops local up`` (fresh state, free ports), then: upload scikit-learn's wine dataset as CSV
and follow the run stage by stage; show the model and its lineage; predict over HTTP; send traffic
like the training data (no drift) and shifted traffic (drift on the shifted features), whose alarm
starts a retraining run that puts a new version in production; upload the same bytes again (no
training) and a broken file (refused, production untouched); run a canary that completes, one
that is rolled back by itself (a candidate that requires a column clients do not send yet), and a
shadow of the retrained version that is promoted once it agrees with production. Ends
with a summary; exits non-zero if any step does not do what it should.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import redirect_stderr
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.datasets import load_wine

from mlops.cli.main import main as mlops

DATASET = "wine"
TARGET = "cultivar"
OUTPUT = Path("demo-output")
SHIFTED = ("alcohol", "color_intensity", "proline", "magnesium", "hue")


class DemoFailed(Exception):
    """A step of the demo did not do what it should; the message says which."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def say(text: str = "") -> None:
    print(text, flush=True)


def heading(text: str) -> None:
    say()
    say(f"== {text} " + "=" * max(0, 74 - len(text)))


def cli(*args: str, show: bool = True) -> tuple[int, str]:
    """Run one ``mlops`` command in-process; echo it and its output like a terminal would."""
    out = io.StringIO()
    if show:
        say(f"$ mlops {' '.join(args)}")
    code = mlops(list(args), out=out, err=sys.stdout if show else io.StringIO())
    text = out.getvalue()
    if show and text and "--json" not in args:
        say(text.rstrip())
    return code, text


def cli_json(*args: str) -> Any:
    code, text = cli(*args, "--json", show=False)
    if code != 0:
        raise DemoFailed(f"`mlops {' '.join(args)}` failed with exit code {code}.")
    return json.loads(text)


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise DemoFailed(message)


class LocalStack:
    """``mlops local up`` in a child process, stopped with SIGTERM like a person pressing Ctrl-C."""

    def __init__(self, state_dir: Path) -> None:
        self.aws_port, self.api_port = _free_port(), _free_port()
        self.state_dir = state_dir
        self.lines: list[str] = []
        self.process: subprocess.Popen[str] | None = None

    def __enter__(self) -> LocalStack:
        command = [
            sys.executable, "-m", "mlops.cli.main", "local", "up",
            "--aws-port", str(self.aws_port), "--api-port", str(self.api_port),
            "--state-dir", str(self.state_dir),
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        ready = threading.Event()

        def read() -> None:
            assert self.process is not None and self.process.stdout is not None
            for line in self.process.stdout:
                self.lines.append(line.rstrip())
                if line.strip() == "ready":
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(120):
            self.__exit__(None, None, None)
            raise DemoFailed("`mlops local up` did not become ready:\n" + "\n".join(self.lines[-20:]))
        os.environ.update(
            AWS_ENDPOINT_URL=f"http://127.0.0.1:{self.aws_port}",
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION="us-east-1",
        )
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()


def wine_frame() -> pd.DataFrame:
    data = load_wine(as_frame=True)
    frame: pd.DataFrame = data.frame.rename(
        columns={"target": TARGET, "od280/od315_of_diluted_wines": "od280_od315"}
    )
    frame[TARGET] = [f"cultivar_{i}" for i in data.target]
    return frame


def traffic(frame: pd.DataFrame, rows: int, seed: int, shift: bool) -> list[dict[str, Any]]:
    """Requests drawn from the data (jittered a little); ``shift`` moves three features well away."""
    rng = np.random.default_rng(seed)
    sample = frame.drop(columns=[TARGET]).sample(rows, replace=True, random_state=seed).reset_index(drop=True)
    numeric = sample.select_dtypes("number").columns
    sample[numeric] = sample[numeric] * rng.normal(1.0, 0.01, size=(rows, len(numeric)))
    if shift:
        for column in SHIFTED:
            sample[column] = sample[column] + 1.5 * frame[column].std()
    return [{str(k): float(v) for k, v in row.items()} for row in sample.to_dict(orient="records")]


CAPTURE_SETTLE_S = 2.5


def send(
    api_predict: Callable[[list[dict[str, Any]]], Any], rows: list[dict[str, Any]], batch: int = 25
) -> None:
    for start in range(0, len(rows), batch):
        api_predict(rows[start : start + batch])
    # The capture extension ships the spooled lines once they have waited its flush interval (1 s)
    # and its timer comes round: give the last requests' lines that long to land.
    time.sleep(CAPTURE_SETTLE_S)


def run_demo(workdir: Path) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    frame = wine_frame()
    csv = workdir / "wine.csv"
    frame.to_csv(csv, index=False)

    heading("1. Upload scikit-learn's wine dataset; the pipeline runs stage by stage")
    code, _ = cli("upload", str(csv), "--dataset", DATASET, "--target", TARGET, "--wait")
    expect(code == 0, "The first upload did not reach production.")
    run = cli_json("runs", "list", "--dataset", DATASET)[0]
    summary["first_run"] = run

    heading("2. The model in production, and where it came from")
    cli("models", "list", DATASET)
    models = cli_json("models", "list", DATASET)
    production = next(m for m in models if m["status"] == "production")
    summary["production"] = production
    cli("lineage", DATASET, str(production["version"]))
    summary["lineage"] = cli_json("lineage", DATASET, str(production["version"]))

    heading("3. Predict over HTTP")
    request = workdir / "request.json"
    request.write_text(json.dumps({"records": traffic(frame, 3, seed=1, shift=False)}))
    code, text = cli("predict", DATASET, "--json-input", str(request))
    expect(code == 0, "Prediction failed.")
    summary["prediction"] = json.loads(text)

    def predict(rows: list[dict[str, Any]]) -> Any:
        request.write_text(json.dumps({"records": rows}))
        code, text = cli("predict", DATASET, "--json-input", str(request), show=False)
        expect(code == 0, f"Prediction failed: {text}")
        return json.loads(text)

    heading("4. Traffic like the training data: no drift")
    send(predict, traffic(frame, 400, seed=2, shift=False))
    say("sent 400 rows like the training data")
    calm = cli_json("drift", "run", DATASET)
    _show_drift(calm)
    expect(not calm["drift_detected"], "Same-distribution traffic raised drift.")
    summary["drift_calm"] = calm

    heading(f"5. Shifted traffic ({', '.join(SHIFTED)} moved): drift, alarm, retraining")
    send(predict, traffic(frame, 400, seed=3, shift=True))
    say("sent 400 shifted rows")
    shifted = cli_json("drift", "run", DATASET)
    _show_drift(shifted)
    expect(shifted["drift_detected"], "Shifted traffic did not raise drift.")
    drifted = {name for name, f in shifted["features"].items() if f["drift"]}
    expect(set(SHIFTED) <= drifted, f"Drift flagged {sorted(drifted)}, expected {list(SHIFTED)}.")
    summary["drift_shifted"] = shifted
    summary["html_report"] = _save_report(shifted["report"])
    say(f"HTML report with a distribution plot per feature: {summary['html_report']}")
    say("waiting for the drift alarm to start retraining ...")
    retrain = _wait_for(lambda: _drift_run(), 180, "No retraining run started after the drift alarm.")
    say(f"alarm -> EventBridge rule -> trigger: run {retrain['run_id']} (trigger {retrain['trigger']})")
    finished = _wait_for(
        lambda: next(
            (
                r
                for r in cli_json("runs", "list", "--dataset", DATASET)
                if r["run_id"] == retrain["run_id"] and r["status"] != "RUNNING"
            ),
            None,
        ),
        300,
        "The retraining run did not finish.",
    )
    expect(finished["status"] == "SUCCEEDED", f"The retraining run failed: {finished['error']}")
    cli("runs", "show", finished["run_id"])
    summary["retrain_run"] = finished
    summary["production_after"] = next(
        m for m in cli_json("models", "list", DATASET) if m["status"] == "production"
    )

    heading("6. The same bytes again: no training")
    code, _ = cli("upload", str(csv), "--dataset", DATASET, "--wait")
    expect(code == 0, "Re-uploading identical content did not exit 0.")

    heading("7. A broken file: refused with its reason, production untouched")
    broken = workdir / "broken.csv"
    broken.write_text("alcohol,malic_acid\n")
    code, _ = cli("upload", str(broken), "--dataset", DATASET, "--wait")
    expect(code != 0, "A header-only file was not refused.")
    after = next(m for m in cli_json("models", "list", DATASET) if m["status"] == "production")
    expect(after["version"] == summary["production_after"]["version"], "A bad upload moved production.")

    heading("8. A canary that completes: v1 takes 50%, then 100%, then production")
    first, serving = summary["production"]["version"], after["version"]
    code, _ = cli("models", "rollout", DATASET, str(first), "--canary", "50,100", "--bake", "2s")
    expect(code == 0, "The canary did not start.")
    completed = _canary(predict, frame, 60)
    expect(completed["status"] == "completed", f"The canary did not complete: {completed['reason']}")
    cli("rollouts", "show", DATASET)
    summary["canary_completed"] = completed

    heading("9. A canary rolled back by itself: the candidate needs a column clients do not send")
    config = workdir / "wine.yaml"
    config.write_text(
        f"target: {TARGET}\ndeployment:\n  strategy: canary\n  canary: {{steps: [50, 100], bake: 2s}}\n"
    )
    cli("datasets", "configure", DATASET, "--file", str(config))
    vintage = workdir / "wine-vintage.csv"
    with_vintage = frame.assign(vintage=[2000 + int(c[-1]) * 5 + i % 3 for i, c in enumerate(frame[TARGET])])
    with_vintage.to_csv(vintage, index=False)
    code, _ = cli("upload", str(vintage), "--dataset", DATASET, "--wait")
    expect(code == 0, "The upload with the new column failed.")
    started = time.monotonic()
    rolled = _canary(predict, frame, 60)
    took = time.monotonic() - started
    expect(rolled["status"] == "rolled_back", f"The bad candidate was not rolled back: {rolled['status']}")
    cli("rollouts", "show", DATASET)
    now = next(m for m in cli_json("models", "list", DATASET) if m["status"] == "production")
    expect(now["version"] == first, "A rolled-back candidate changed production.")
    summary["canary_rolled_back"] = {**rolled, "seconds": round(took, 1), "previous": serving}

    heading("10. A shadow: the retrained version scores 10 live requests without answering, then serves")
    started = time.monotonic()
    code, _ = cli("models", "rollout", DATASET, str(serving), "--shadow", "10", "--bake", "2s")
    expect(code == 0, "The shadow did not start.")
    shadowed = _canary(predict, frame, 60)
    expect(shadowed["status"] == "completed", f"The shadow was not promoted: {shadowed['reason']}")
    cli("rollouts", "show", DATASET)
    summary["shadow_promoted"] = {**shadowed, "seconds": round(time.monotonic() - started, 1)}
    return summary


def _canary(predict: Callable[[list[dict[str, Any]]], Any], frame: pd.DataFrame, timeout_s: float) -> Any:
    """Send traffic until the rollout ends; returns ``rollouts show --json``."""
    rows = traffic(frame, 200, seed=5, shift=False)
    deadline = time.monotonic() + timeout_s
    sent = 0
    while True:
        predict(rows[sent % len(rows) : sent % len(rows) + 1])
        sent += 1
        if sent % 10 == 0:
            rollout = cli_json("rollouts", "show", DATASET)
            if rollout["status"] != "running":
                say(f"sent {sent} requests; the rollout is {rollout['status']}")
                return rollout
        if time.monotonic() > deadline:
            raise DemoFailed(f"The rollout was still running after {timeout_s:.0f}s.")


def _save_report(json_uri: str) -> str:
    """Copy the HTML drift report next to the user, where a browser can open it."""
    from mlops import aws

    bucket, key = json_uri.removeprefix("s3://").split("/", 1)
    html = aws.s3().get_object(Bucket=bucket, Key=key.removesuffix(".json") + ".html")["Body"].read()
    target = OUTPUT / "drift-report.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(html)
    return str(target)


def _drift_run() -> dict[str, Any] | None:
    return next((r for r in cli_json("runs", "list", "--dataset", DATASET) if r["trigger"] == "drift"), None)


def _wait_for(probe: Callable[[], Any], timeout_s: float, message: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(1.0)
    raise DemoFailed(message)


def _show_drift(report: dict[str, Any]) -> None:
    say(f"drift_detected={report['drift_detected']}  rows={report['rows']}  report={report['report']}")
    for name, feature in sorted(report["features"].items(), key=lambda kv: not kv[1]["drift"]):
        mark = "DRIFT" if feature["drift"] else "ok"
        statistic = feature.get("statistic")
        shown = f"{statistic:.3f}" if isinstance(statistic, int | float) else "n/a"
        say(f"  {name:<24} {feature['test']:<15} statistic={shown:<7} {mark}")


def print_summary(summary: dict[str, Any]) -> None:
    heading("Summary")
    run = summary["first_run"]
    say(
        f"first run {run['run_id']}: {run['status']}, model v{run['model_version']} promoted={run['promoted']}"
    )
    production = summary["production"]
    metrics = ", ".join(f"{k}={v:.3f}" for k, v in sorted(production["metrics"].items()))
    say(f"model v{production['version']} metrics: {metrics}")
    say(
        f"drift: calm traffic -> {summary['drift_calm']['drift_detected']}, shifted -> {summary['drift_shifted']['drift_detected']}"
    )
    say(
        f"HTML drift report: {summary['html_report']} (in S3: {summary['drift_shifted']['report'][:-5]}.html)"
    )
    retrain = summary["retrain_run"]
    say(f"retraining run {retrain['run_id']} (trigger {retrain['trigger']}): {retrain['status']}")
    say(f"production after retraining: v{summary['production_after']['version']}")
    say(f"canary of v{summary['canary_completed']['version']}: {summary['canary_completed']['status']}")
    rolled = summary["canary_rolled_back"]
    say(f"canary of v{rolled['version']}: {rolled['status']} after {rolled['seconds']}s ({rolled['reason']})")
    shadowed = summary["shadow_promoted"]
    say(
        f"shadow of v{shadowed['version']}: {shadowed['status']} in {shadowed['seconds']}s ({shadowed['reason']})"
    )


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="mlops-demo-"))
    started = time.monotonic()
    try:
        with LocalStack(workdir / "state"):
            summary = run_demo(workdir)
        print_summary(summary)
        say(f"\ndemo finished in {time.monotonic() - started:.0f}s")
        return 0
    except DemoFailed as failure:
        say(f"\ndemo FAILED: {failure}")
        return 1
    finally:
        with redirect_stderr(io.StringIO()):
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
