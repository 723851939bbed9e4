"""The console in a real browser: headless Chromium (the system's, driven by Playwright) against the
embedded stack after a demo-like history. Every page loads with its content, none issues a
DynamoDB Scan, axe-core finds nothing serious, the keyboard reaches everything, and promote and
rollback go through their confirmation to the registry.

One browser session serves the whole module. Without Chromium the module is skipped with the reason,
except in CI (``CI`` set), where ``.ci/run`` installs it and its absence is a failure.
``MLOPS_CONSOLE_SCREENSHOTS=DIR`` also saves the main pages' screenshots there (docs/img/ holds them).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops import aws
from mlops.console.app import Sources
from mlops.console.server import make_console_server
from mlops.console.site import build_console
from mlops.local.embedded import EmbeddedStack
from mlops.registry import Registry
from mlops.storage import Storage
from tests.integration.console_world import DATASET, World, build_world
from tests.servers import serving

CHROMIUM = os.environ.get("MLOPS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.slow


def _chromium() -> str:
    path = shutil.which(CHROMIUM) or (CHROMIUM if os.path.exists(CHROMIUM) else None)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"Chromium is missing at {CHROMIUM}: .ci/run installs Debian's chromium package.")
        pytest.skip(f"Chromium not installed at {CHROMIUM} (apt-get install chromium; CI installs it).")
    return path


@pytest.fixture(scope="module")
def world(embedded: EmbeddedStack, registry: Registry, data_bucket: str) -> World:
    return build_world(embedded, registry, data_bucket)


@pytest.fixture(scope="module")
def dynamodb_calls(embedded: EmbeddedStack) -> list[str]:
    """Every DynamoDB operation the console makes (its server shares this process's client)."""
    calls: list[str] = []

    def record(model: Any, **_: Any) -> None:
        calls.append(model.name)

    aws.dynamodb().meta.events.register("before-call.dynamodb.*", record)
    return calls


@pytest.fixture(scope="module")
def console(world: World, registry: Registry, dynamodb_calls: list[str]) -> Iterator[str]:
    app = build_console(Sources(registry, Storage(), "MlopsStack", "the embedded stack"))
    with serving(make_console_server(app, "127.0.0.1", 0)) as url:
        yield url


@pytest.fixture(scope="module")
def page(console: str) -> Iterator[Any]:
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        context = browser.new_context(base_url=console, viewport={"width": 1280, "height": 900})
        tab = context.new_page()
        try:
            yield tab
        finally:
            context.close()
            browser.close()


def visit(page: Any, url: str) -> Any:
    response = page.goto(url)
    assert response is not None and response.status == 200, (url, response and response.status)
    assert "Something went wrong" not in page.content()
    return response


def main_pages(registry: Registry, world: World) -> dict[str, str]:
    """Name -> URL of every page kind, with real ids from the world."""
    version = registry.datasets.latest_dataset_version(DATASET)
    assert version is not None
    summary = registry.drift.recent_drift_summaries(DATASET, 1)[0]
    return {
        "overview": "/",
        "datasets": "/datasets",
        "dataset": f"/datasets/{DATASET}",
        "dataset-version": f"/datasets/{DATASET}/versions/{version.sha256}",
        "runs": "/runs",
        "run-failed": f"/runs/{world.failed.run_id}",
        "models": "/models",
        "model": f"/models/{DATASET}",
        "lineage-index": "/lineage",
        "lineage": f"/lineage/{DATASET}/{world.production}",
        "drift-index": "/drift",
        "drift": f"/drift/{DATASET}",
        "drift-report": f"/drift/{DATASET}/reports/{summary.evaluated_at.isoformat()}",
        "batch": "/batch",
        "batch-model": f"/batch?model={DATASET}",
        "batch-job": f"/batch/{world.batch.job_id}",
    }


def other_version(registry: Registry, world: World) -> int:
    """A version that is not in production (the world has two that can serve)."""
    return next(
        m.version for m in registry.models.list_model_versions(DATASET) if m.version != world.production
    )


def test_every_page_shows_its_content_without_a_scan(
    page: Any, registry: Registry, world: World, dynamodb_calls: list[str]
) -> None:
    pages = main_pages(registry, world)
    dynamodb_calls.clear()
    expected = {
        "overview": ["Models", "Latest runs", DATASET, f"v{world.production}"],
        "datasets": [DATASET, "Latest version"],
        "dataset": ["Versions", "Uploads", "ACCEPTED", "iris-more.csv"],
        "dataset-version": [
            "Validation",
            "duplicate_rows",
            "Profile",
            "petal length (cm)",
            "sepal width (cm)",
        ],
        "runs": ["Timeline", "FAILED", "failed at validation", world.failed.run_id],
        "run-failed": ["Failed at validation", "species", "Stages"],
        "models": [DATASET, f"v{world.production}"],
        "model": ["Production over time", "Metrics", "Versions", "f1_macro"],
        "lineage-index": [DATASET],
        "lineage": ["raw file", "dataset version", "validation report", "drift report", "baseline"],
        "drift-index": [DATASET, "drift"],
        "drift": ["Drift score", "petal length (cm)", "Evaluations"],
        "drift-report": ["verdict", "drifted features"],
        "batch": [world.batch.job_id, "SUCCEEDED", "s3://", "Rows failed"],
        "batch-model": [world.batch.job_id, f"v{world.production}"],
        "batch-job": [
            "Inputs",
            "iris.csv",
            world.batch.inputs[0].sha256,
            f"{DATASET} v{world.production}",
            world.batch.model_sha256 or "no model sha256",
            "20 in, 19 scored, 1 failed",
            "'petal width (cm)' is not a number ('wide')",
            world.batch.error_files[0],
        ],
    }
    for name, url in pages.items():
        visit(page, url)
        text = page.inner_text("main") + page.inner_html("main")
        for wanted in expected[name]:
            assert wanted in text, f"{name} ({url}) does not show {wanted!r}"
    # The Gantt chart has one bar per recorded stage, the failed one in red.
    visit(page, pages["runs"])
    assert page.locator("svg.chart rect[fill='#C0392B']").count() >= 1
    # The drift report is the stored HTML, embedded.
    visit(page, pages["drift-report"])
    frame = page.frame_locator("iframe.report")
    assert "Drift report: iris" in frame.locator("h1").inner_text()
    assert frame.locator("svg").count() >= 4
    # The model page leads to its batch jobs, and a job to its page.
    visit(page, pages["model"])
    page.get_by_role("link", name="Batch jobs").last.click()
    page.wait_for_url(f"**/batch?model={DATASET}")
    page.get_by_role("link", name=world.batch.job_id).click()
    page.wait_for_url(f"**/batch/{world.batch.job_id}")
    assert dynamodb_calls and "Scan" not in dynamodb_calls, sorted(set(dynamodb_calls))


def test_accessibility_has_no_serious_findings(page: Any, registry: Registry, world: World) -> None:
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    findings = {}
    for name, url in main_pages(registry, world).items():
        visit(page, url)
        results = axe.run(page)
        serious = [
            f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes, e.g. {v['nodes'][0]['target']})"
            for v in results.response["violations"]
            if v.get("impact") in ("serious", "critical")
        ]
        if serious:
            findings[name] = serious
    assert findings == {}


def test_keyboard_reaches_the_content_and_every_section(page: Any) -> None:
    visit(page, "/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    visit(page, "/")
    reached = []
    for _ in range(8):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.textContent"))
    assert {"Datasets", "Runs", "Models", "Lineage", "Drift"} <= set(reached)
    while page.evaluate("document.activeElement.textContent") != "Models":
        page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")  # follows the focused link
    page.wait_for_url("**/models")
    assert page.get_by_role("heading", name="Models", level=1).is_visible()


def test_promote_and_rollback_ask_first_then_move_the_alias(
    page: Any, registry: Registry, world: World
) -> None:
    other = other_version(registry, world)
    visit(page, f"/models/{DATASET}")
    page.get_by_role("link", name=f"Promote v{other}").click()
    assert page.get_by_text(f"Promote {DATASET} v{other} to production?").is_visible()
    before = registry.models.get_alias(DATASET)
    assert before is not None and before.version == world.production  # asking changes nothing
    page.get_by_label("Reason").fill("checking the older model")
    page.get_by_role("button", name=f"Promote v{other}").click()
    page.wait_for_url(lambda url: f"/models/{DATASET}?flash=" in url)
    assert f"Production of '{DATASET}' moved from v{world.production} to v{other}." in page.inner_text(
        "[role=status]"
    )
    alias = registry.models.get_alias(DATASET)
    assert alias is not None and alias.version == other and alias.action == "manual"
    assert registry.models.alias_history(DATASET)[-1].reason == "checking the older model"

    page.get_by_role("link", name="Roll back production").click()
    page.get_by_role("button", name=f"Roll back to v{world.production}").click()
    page.wait_for_url(lambda url: f"/models/{DATASET}?flash=" in url)
    assert f"from v{other} to v{world.production}" in page.inner_text("[role=status]")
    alias = registry.models.get_alias(DATASET)
    assert alias is not None and alias.version == world.production and alias.action == "rollback"


def test_a_confirmation_overtaken_by_another_move_is_refused(
    page: Any, registry: Registry, world: World
) -> None:
    other = other_version(registry, world)
    visit(page, f"/actions/promote?model={DATASET}&version={other}")
    # Meanwhile someone promotes from the CLI (the same domain function), then rolls back.
    stale = registry.models.get_alias(DATASET)
    assert stale is not None
    moved = registry.models.move_alias(DATASET, other, stale, "manual", reason="from the CLI")
    registry.models.move_alias(DATASET, world.production, moved, "rollback", reason="from the CLI")
    page.get_by_role("button", name=f"Promote v{other}").click()
    assert "moved since you looked" in page.inner_text("[role=alert]")
    alias = registry.models.get_alias(DATASET)
    assert alias is not None and alias.version == world.production and alias.revision == stale.revision + 2


def test_approve_asks_first_and_records_who_decided(page: Any, registry: Registry, world: World) -> None:
    other = other_version(registry, world)
    registry.models.set_model_status(DATASET, other, "pending_approval", "Passed review.")
    visit(page, f"/models/{DATASET}")
    page.get_by_role("link", name=f"Approve v{other}").click()
    assert page.get_by_text(f"Approve {DATASET} v{other}?").is_visible()
    assert registry.models.get_alias(DATASET).version == world.production  # type: ignore[union-attr]
    page.get_by_label("Reason").fill("looked at the report")
    page.get_by_role("button", name=f"Approve v{other}").click()
    page.wait_for_url(lambda url: f"/models/{DATASET}?flash=" in url)
    assert f"Approved '{DATASET}' v{other}" in page.inner_text("[role=status]")
    alias = registry.models.get_alias(DATASET)
    assert alias is not None and alias.version == other and alias.action == "approve"
    event = registry.models.alias_history(DATASET)[-1]
    assert event.reason == "looked at the report" and (event.actor or "").startswith("arn:aws:")
    registry.models.move_alias(
        DATASET, world.production, alias, "rollback", reason="back to the world's production"
    )
    visit(page, "/rollouts")
    assert page.get_by_text("No rollouts yet.").is_visible()


def test_screenshots_of_the_main_pages(page: Any, registry: Registry, world: World, tmp_path: Path) -> None:
    target = Path(os.environ.get("MLOPS_CONSOLE_SCREENSHOTS") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    pages = main_pages(registry, world)
    for name in ("overview", "runs", "model", "lineage", "drift", "drift-report", "dataset-version"):
        visit(page, pages[name])
        shot = target / f"console-{name}.png"
        page.screenshot(path=str(shot), full_page=False)
        assert shot.stat().st_size > 10_000  # a rendered page, not a blank one
