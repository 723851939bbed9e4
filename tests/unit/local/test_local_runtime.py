"""The embedded stack's Lambda runtime: a function's init phase runs once, when asked or on first use."""

from __future__ import annotations

from pathlib import Path

from mlops.definition.description import FunctionSpec
from mlops.local.runtime import FunctionRuntime

HANDLER = """
from pathlib import Path

INITS = Path(__file__).with_name("inits")
INITS.write_text(INITS.read_text() + "x" if INITS.exists() else "x")


def handler(event, context):
    return {"inits": len(INITS.read_text()), "echo": event}
"""


def _runtime(root: Path, names: tuple[str, ...]) -> FunctionRuntime:
    specs = []
    for name in names:
        folder = root / "functions" / name
        folder.mkdir(parents=True)
        (folder / "handler.py").write_text(HANDLER)
        specs.append(FunctionSpec(name, name, "pipeline", "zip", (), {}))
    return FunctionRuntime(
        {name: f"local-{name}" for name in names},
        lambda name: f"arn:aws:lambda:us-east-1:123456789012:function:local-{name}",
        root=root,
        specs=tuple(specs),
    )


def _inits(root: Path, name: str) -> int:
    path = root / "functions" / name / "inits"
    return len(path.read_text()) if path.exists() else 0


def test_initialize_runs_every_init_phase_once_before_any_invocation(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path, ("first", "second"))
    assert _inits(tmp_path, "first") == _inits(tmp_path, "second") == 0
    runtime.initialize()
    assert _inits(tmp_path, "first") == _inits(tmp_path, "second") == 1
    result = runtime.invoke("first", {"n": 1})
    assert not result.failed and result.payload == {"inits": 1, "echo": {"n": 1}}
    runtime.initialize()
    assert _inits(tmp_path, "first") == _inits(tmp_path, "second") == 1
    runtime.shutdown()


def test_without_initialize_the_first_invocation_runs_the_init_phase(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path, ("only", "other"))
    runtime.initialize(["other"])
    assert _inits(tmp_path, "only") == 0 and _inits(tmp_path, "other") == 1
    assert runtime.invoke("only", {}).payload == {"inits": 1, "echo": {}}
    runtime.shutdown()
