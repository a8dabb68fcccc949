"""Errors a user can cause. Each carries one clear line for stderr."""


class StitchtimeError(Exception):
    """Base class: the CLI prints ``str(err)`` on one line and exits non-zero."""

    exit_code = 1


class InputError(StitchtimeError):
    """A path that is missing, a directory, unreadable, or an output that exists."""

    exit_code = 2


class VideoError(StitchtimeError):
    """A file that is not a decodable video (not a video, truncated, no frames)."""

    exit_code = 3


class NoFaceError(StitchtimeError):
    """No usable face in any frame."""

    exit_code = 4


class ModelError(StitchtimeError):
    """A model file that is missing, truncated, or of the wrong family."""

    exit_code = 5


class BackendError(StitchtimeError):
    """An optional backend that is not usable here (e.g. missing weights)."""

    exit_code = 6
