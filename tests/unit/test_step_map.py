"""The step map in docs/architecture.md and the construct each function names stay true to the code."""

from __future__ import annotations

import ast
import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import pytest

from mlops.definition import description as d

ROOT = Path(__file__).resolve().parents[2]
ARCHITECTURE = ROOT / "docs" / "architecture.md"
COLUMNS = ("step", "handler", "domain module", "ML module", "FunctionSpec", "ASL states", "CDK construct")
NONE = "—"


@dataclass(frozen=True)
class Row:
    step: str
    handler: str
    domain: str
    ml: tuple[str, ...]
    function: str
    states: tuple[tuple[str, str], ...]  # (state machine, state)
    construct: str


def cells(line: str) -> list[str]:
    return [cell.strip().replace("`", "") for cell in line.strip().strip("|").split("|")]


def states_of(cell: str) -> tuple[tuple[str, str], ...]:
    if cell == NONE:
        return ()
    machine, _, names = cell.partition(":")
    return tuple((machine.strip(), name.strip()) for name in names.split(","))


def step_map(text: str) -> list[Row]:
    section = text.split("## Step map", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    assert tuple(cells(lines[0])) == COLUMNS
    rows = []
    for line in lines[2:]:
        step, handler, domain, ml, function, states, construct = cells(line)
        ml_modules = () if ml == NONE else tuple(name.strip() for name in ml.split(","))
        rows.append(Row(step, handler, domain, ml_modules, function, states_of(states), construct))
    return rows


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at its top or inside a function (the heavy ML stack loads lazily)."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def module_file(module: str) -> Path:
    found = importlib.util.find_spec(module)
    assert found is not None and found.origin, f"{module} does not exist"
    return Path(found.origin)


def task_states(states: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Task states by name, those of Map states' item processors included."""
    tasks: dict[str, dict[str, Any]] = {}
    for name, state in states.items():
        if state["Type"] == "Task":
            tasks[name] = state
        if state["Type"] == "Map":
            tasks.update(task_states(state["ItemProcessor"]["States"]))
    return tasks


def invoked_function(machine: d.StateMachineSpec, state: dict[str, Any]) -> str:
    placeholder = re.fullmatch(r"\$\{(\w+)\}", state["Parameters"]["FunctionName"])
    assert placeholder, state
    return machine.substitutions[placeholder.group(1)].name


ROWS = step_map(ARCHITECTURE.read_text())


def test_the_map_has_one_row_per_function_of_the_description() -> None:
    assert sorted(row.function for row in ROWS) == sorted(spec.name for spec in d.FUNCTIONS)


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.function)
def test_each_row_names_the_handler_and_modules_that_exist_and_are_used(row: Row) -> None:
    spec = d.function(row.function)
    assert row.handler == f"{spec.code_dir}/handler.py"
    handler = ROOT / row.handler
    assert handler.is_file()
    assert row.domain in imported_modules(handler), f"{row.handler} does not import {row.domain}"
    used_by_domain = imported_modules(module_file(row.domain))
    for ml_module in row.ml:
        module_file(ml_module)
        assert ml_module in used_by_domain | imported_modules(handler), (
            f"{row.domain} does not use {ml_module}"
        )


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.function)
def test_each_row_names_the_construct_its_function_spec_names(row: Row) -> None:
    assert row.construct == d.function(row.function).construct
    source = ROOT / "infra" / "constructs" / f"{row.construct}.py"
    assert f"class {row.construct.capitalize()}(Construct)" in source.read_text()


def test_the_asl_states_are_the_task_states_invoking_each_function() -> None:
    machines = {machine.name: machine for machine in d.STATE_MACHINES}
    mapped = {state: row.function for row in ROWS for state in row.states}
    assert len(mapped) == sum(len(row.states) for row in ROWS), "a state appears in two rows"
    described: dict[tuple[str, str], str] = {}
    for machine in d.STATE_MACHINES:
        states = json.loads(d.state_machine_definition(machine))["States"]
        for name, state in task_states(states).items():
            described[(machine.name, name)] = invoked_function(machine, state)
    assert set(mapped) <= set(described), f"no such states: {sorted(set(mapped) - set(described))}"
    assert mapped == described
    assert {machine for machine, _ in mapped} <= set(machines)


def test_every_function_belongs_to_exactly_one_construct_and_every_construct_builds_some() -> None:
    assert set(d.CONSTRUCTS) == set(get_args(d.ConstructName))
    by_construct = {construct: d.functions_of(construct) for construct in d.CONSTRUCTS}
    built = [spec.name for specs in by_construct.values() for spec in specs]
    assert sorted(built) == sorted(spec.name for spec in d.FUNCTIONS)
    assert all(by_construct.values()), by_construct
    # The API proxies to a function the serving construct builds.
    assert d.function(d.API_FUNCTION).construct == "serving"
