"""Shared CLI plumbing: turn a StitchtimeError into one line on stderr and an exit code."""

from __future__ import annotations

import functools
import sys
from typing import Callable, TypeVar

import typer

from generative.errors import DeviceError
from stitchtime.errors import StitchtimeError

F = TypeVar("F", bound=Callable)


def fail(message: str, code: int = 1) -> "typer.Exit":
    """Print one line on stderr and return the Exit to raise."""
    print(f"stitchtime: error: {message}", file=sys.stderr)
    return typer.Exit(code)


def friendly_errors(fn: F) -> F:
    """Decorator for commands: user errors become one stderr line and a non-zero exit."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except StitchtimeError as err:
            raise fail(str(err).splitlines()[0] if str(err) else type(err).__name__, err.exit_code) from None
        except DeviceError as err:
            raise fail(str(err), 2) from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None

    return wrapper  # type: ignore[return-value]
