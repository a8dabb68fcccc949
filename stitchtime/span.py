"""``--start`` / ``--end``: edit only a stretch of the clip, fading the edit in and out.

A point is a frame number (a bare integer: ``120``) or a time from the start of the video:
``00:00:02``, ``01:02.5``, ``2.5`` (any number with a decimal point) or ``2s`` / ``2.5s``.
``end`` is exclusive: ``--start 2s --end 5s`` edits the frames shown from 2 s up to (not
including) 5 s; ``--start 50 --end 100`` edits frames 50 to 99. Frames outside keep their
decoded pixels untouched; inside, the edit's weight rises from 0 to 1 over ``fade`` seconds at
each border (smoothstep), so it does not pop in or out.
"""

from __future__ import annotations

import math
import re

import numpy as np

from stitchtime.config import EditSpan
from stitchtime.errors import InputError
from stitchtime.types import VideoMeta

_CLOCK = re.compile(r"^(?:(\d+):)?(\d+):(\d+(?:\.\d*)?)$")  # [HH:]MM:SS[.fff]
_SECONDS = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)s?$")


def parse_point(text: str) -> tuple[str, float]:
    """``("frame", n)`` or ``("time", seconds)``; ValueError with a one-line reason otherwise."""
    s = str(text).strip().lower()
    if s.isdigit():
        return "frame", int(s)
    clock = _CLOCK.match(s)
    if clock:
        hours, minutes, seconds = clock.groups()
        if (hours is not None and int(minutes) >= 60) or float(seconds) >= 60:
            raise ValueError(f"{text!r}: minutes and seconds must be below 60")
        return "time", int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)
    number = _SECONDS.match(s)
    if number and (s.endswith("s") or "." in s):
        value = float(number.group(1))
        if math.isfinite(value):
            return "time", value
    raise ValueError(f"{text!r} is not a frame number (120) or a time (00:00:02, 01:02.5, 2.5, 2s)")


def check_span(span: EditSpan) -> None:
    """Refuse a malformed point or a negative fade before any work (InputError)."""
    for flag, value in (("--start", span.start), ("--end", span.end)):
        if value is not None:
            try:
                parse_point(value)
            except ValueError as e:
                raise InputError(f"{flag}: {e}") from None
    if not (math.isfinite(span.fade) and span.fade >= 0):
        raise InputError(f"--fade: {span.fade} is not a duration >= 0 (seconds)")


def _frame_of(kind: str, value: float, meta: VideoMeta) -> int:
    """The first frame at or after the point."""
    if kind == "frame":
        return int(value)
    times = np.asarray(meta.timestamps, np.float64)
    if len(times) < meta.n_frames:  # frames beyond the timestamps continue at the average rate
        extra = times[-1] + np.arange(1, meta.n_frames - len(times) + 1) / meta.fps if len(times) else None
        times = np.arange(meta.n_frames) / meta.fps if extra is None else np.concatenate([times, extra])
    return int(np.searchsorted(times[: meta.n_frames], value - 1e-6, side="left"))


def span_weights(span: EditSpan, meta: VideoMeta) -> np.ndarray | None:
    """Per-frame weight of the edit ``(T,)`` float32 in [0, 1]; None when the whole clip is edited.
    Raises InputError when the stretch is empty or starts after the clip ends."""
    if span.start is None and span.end is None:
        return None
    check_span(span)
    n = meta.n_frames
    first = 0 if span.start is None else _frame_of(*parse_point(span.start), meta)
    stop = n if span.end is None else min(n, _frame_of(*parse_point(span.end), meta))
    length = f"{n} frames, {meta.duration:.2f} s"
    if first >= n:
        raise InputError(f"--start {span.start}: the clip ends before it ({length})")
    if stop <= first:
        what = f"--start {span.start} --end {span.end}" if span.start is not None else f"--end {span.end}"
        raise InputError(f"{what}: an empty stretch (frames {first} to {stop - 1}; the clip has {length})")
    weights = np.zeros(n, np.float32)
    i = np.arange(first, stop)
    ramp = round(span.fade * meta.fps)
    if ramp == 0:
        weights[first:stop] = 1.0
        return weights
    # frames inside count 1, 2, ... from each border that is inside the clip (no fade at its ends)
    from_start = i - first + 1 if first > 0 else np.full(len(i), ramp + 1)
    to_end = stop - i if stop < n else np.full(len(i), ramp + 1)
    t = np.clip(np.minimum(from_start, to_end) / (ramp + 1), 0.0, 1.0)
    weights[first:stop] = t * t * (3 - 2 * t)
    return weights
