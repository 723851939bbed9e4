"""The console as a whole: its sections and actions over one stack."""

from __future__ import annotations

from mlops.console.actions import SECTION as ACTIONS
from mlops.console.app import Console, Sources
from mlops.console.pages import SECTIONS


def build_console(sources: Sources) -> Console:
    return Console(sources, [*SECTIONS, ACTIONS])
