"""What the dashboard's handlers share: the app's parts, what a page returns, a refused request."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jinja2
from starlette.requests import Request

from bgjobs.clock import Clock
from bgjobs.dashboard.reader import Reader
from bgjobs.dashboard.security import Guard


class PageError(Exception):
    """A request the page cannot answer: shown with its status and a one-line reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class View:
    """What a page handler returns: a template and its values."""

    template: str
    values: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Dashboard:
    """What every handler may use."""

    adapter: Any
    reader: Reader
    guard: Guard
    read_only: bool
    clock: Clock
    templates: jinja2.Environment


PageHandler = Callable[[Dashboard, Request], View]
ActionHandler = Callable[[Dashboard, list[str], Mapping[str, str]], str]
