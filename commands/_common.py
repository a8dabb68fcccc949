"""Shared CLI plumbing: turn a StitchtimeError into one line on stderr and an exit code."""

from __future__ import annotations

import functools
import json
import signal
import sys
import threading
from typing import Callable, TypeVar

import typer

from generative.errors import DeviceError
from stitchtime.errors import StitchtimeError

F = TypeVar("F", bound=Callable)


def fail(message: str, code: int = 1, json_mode: bool = False) -> "typer.Exit":
    """Print one line on stderr (and, for ``--json``, ``{"error", "exit_code"}`` on stdout) and
    return the Exit to raise."""
    if json_mode:
        print(json.dumps({"error": message, "exit_code": code}))
    print(f"stitchtime: error: {message}", file=sys.stderr)
    return typer.Exit(code)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C, so the same clean-up runs (temporary files
    removed, workers stopped); the command then exits 143 with one line."""


def _on_sigterm(signum: int, frame: object) -> None:
    import multiprocessing

    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once is enough
    for child in multiprocessing.active_children():  # worker pools would otherwise be waited for
        child.kill()
    raise Terminated()


def handle_sigterm() -> None:
    """Treat SIGTERM like SIGINT for the rest of this process (main thread only)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)


def _symlink_loop(err: BaseException) -> str | None:
    """The path of a symbolic link loop an error is about (ELOOP; Python 3.11's ``Path.resolve``
    raises ``RuntimeError("Symlink loop from '...'")``), else None."""
    import errno

    if isinstance(err, OSError) and err.errno == errno.ELOOP:
        return str(err.filename)
    if isinstance(err, RuntimeError) and str(err).startswith("Symlink loop from "):
        return str(err)[len("Symlink loop from ") :].strip("'\"")
    return None


def friendly_errors(fn: F) -> F:
    """Decorator for commands: user errors become one stderr line and a non-zero exit."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        js = kwargs.get("json_") is True or kwargs.get("json_out") == "-"
        try:
            return fn(*args, **kwargs)
        except StitchtimeError as err:
            raise fail(str(err).splitlines()[0] if str(err) else type(err).__name__, err.exit_code, js) from None
        except DeviceError as err:
            raise fail(str(err), 2, js) from None
        except (OSError, RuntimeError) as err:  # a symbolic link loop a check did not catch: still one line
            loop = _symlink_loop(err)
            if loop is None:
                raise
            raise fail(f"{loop}: a symbolic link loop; its links lead to each other, never to a file", 2, js) from None
        except Terminated:
            raise fail("terminated", 143, js) from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130, js) from None

    return wrapper  # type: ignore[return-value]
