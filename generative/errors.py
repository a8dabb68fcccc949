"""Errors raised by ``generative`` (it knows nothing of stitchtime; callers wrap these)."""

from __future__ import annotations


class GenerativeError(Exception):
    """Base class. ``str(err)`` is one clear line for a user."""


class CheckpointError(GenerativeError):
    """A model file or run folder that is missing, truncated, foreign or of another family/config."""


class DatasetError(GenerativeError):
    """A data folder that is missing, empty, or not in a layout the data sets understand."""


class DeviceError(GenerativeError, ValueError):
    """A torch device that is unknown or not available on this machine."""
