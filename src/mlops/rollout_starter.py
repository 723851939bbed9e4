"""Starting the rollout state machine (``rollout.asl.json``) for a rollout: from the promotion function
when a candidate passes review, from the CLI and the console on approval or ``models rollout``."""

from __future__ import annotations

import json
import time

from mlops.entities import Rollout
from mlops.executions import default_execution_starter
from mlops.registry import Registry
from mlops.rollouts import check_interval


class StepFunctionsStarter:
    """Starts the rollout machine for a rollout (its execution name is the rollout id)."""

    def __init__(self, state_machine_arn: str) -> None:
        self.state_machine_arn = state_machine_arn

    def __call__(self, rollout: Rollout) -> str | None:
        if not self.state_machine_arn:
            return None
        return default_execution_starter().start(
            self.state_machine_arn,
            # Unique per start: a resumed rollout gets a new execution.
            f"{rollout.name[:40]}-{rollout.rollout_id}-{int(time.time() * 1000)}",
            json.dumps(
                {
                    "name": rollout.name,
                    "rollout_id": rollout.rollout_id,
                    "wait_seconds": check_interval(rollout.bake_seconds),
                }
            ),
        )


def resume_rollouts(registry: Registry, starter: StepFunctionsStarter) -> list[str]:
    """Start the checks again for every running rollout (the embedded stack after a restart: its
    executions did not survive, the rollout and alias records did). Returns the models resumed."""
    resumed = []
    for name in registry.models.list_model_names():
        rollout = registry.models.get_rollout(name)
        if rollout is not None and rollout.status == "running":
            starter(rollout)
            resumed.append(name)
    return resumed
