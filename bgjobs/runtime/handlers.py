"""What kind of callable a handler is, and whether it can be called with a job at all."""

from __future__ import annotations

import functools
import inspect

from bgjobs.errors import ConfigurationError
from bgjobs.jobs import Handler


def is_async_handler(handler: Handler) -> bool:
    """An `async def` function, an object with `async def __call__`, or a partial of either."""
    target: object = handler
    while isinstance(target, functools.partial):
        target = target.func
    if inspect.iscoroutinefunction(target):
        return True
    call = getattr(type(target), "__call__", None)  # noqa: B004 - the class's, not the instance's
    return not inspect.isfunction(target) and inspect.iscoroutinefunction(call)


def check_handler(job_name: str, handler: Handler) -> None:
    """ConfigurationError, naming the job, if `handler` cannot be called with one job argument."""
    try:
        signature = inspect.signature(handler)
    except (TypeError, ValueError):
        return  # no signature to read (some builtins): the first run will tell
    try:
        signature.bind(object())
    except TypeError as exc:
        raise ConfigurationError(
            f"the handler of job {job_name!r} must take the job as its one positional "
            f"argument; expected a callable like `def handler(job)`, got {handler!r}{signature} "
            f"({exc})"
        ) from None
