"""The `stitchtime` command line. Parses options into config objects; no logic here.

Command groups live in ``commands/`` (one file per group) and are registered below.
"""

from __future__ import annotations

import typer

from commands import prepare as prepare_commands
from commands import train as train_commands
from commands import video as video_commands

app = typer.Typer(
    name="stitchtime",
    help="Edit faces in real videos: same length, frame rate, size and audio back.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
video_commands.register(app)
train_commands.register(app)
prepare_commands.register(app)


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
