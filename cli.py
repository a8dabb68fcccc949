"""The `stitchtime` command line. Parses options into config objects; no logic here.

Command groups live in ``commands/`` (one file per group) and are registered below.
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version

import typer
from typer.core import TyperGroup

from commands import prepare as prepare_commands
from commands import train as train_commands
from commands import ui as ui_commands
from commands import video as video_commands
from commands._common import handle_sigterm


class _OneLineErrors(TyperGroup):
    """Usage errors (an unknown option, a value outside an option's choices, a missing argument) as
    one ``stitchtime: error:`` line on stderr and exit code 2, like every other user error."""

    def main(self, *args, standalone_mode: bool = True, **kwargs):  # type: ignore[override]
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        handle_sigterm()
        try:
            rv = super().main(*args, standalone_mode=False, **kwargs)
        except typer.TyperException as err:  # typer's click usage errors derive from it
            if err.format_message():  # (empty when the help was shown for a bare command)
                message = err.format_message().replace("Value error, ", "")  # (pydantic's prefix)
                print(f"stitchtime: error: {message} (see -h)", file=sys.stderr)
            sys.exit(err.exit_code)
        except typer.Abort:
            print("stitchtime: error: interrupted", file=sys.stderr)
            sys.exit(130)
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(
    cls=_OneLineErrors,
    name="stitchtime",
    help="Edit faces in real videos: same length, frame rate, size and audio back.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
video_commands.register(app)
train_commands.register(app)
prepare_commands.register(app)
ui_commands.register(app)


def _version() -> str:
    try:
        return package_version("stitchtime")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"stitchtime {_version()}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", "-V", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Edit faces in real videos: same length, frame rate, size and audio back."""


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
