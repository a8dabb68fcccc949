"""``--reference-face PHOTO``: the person to follow, given by a photo of them.

The photo is read once, before any video work: it must be a readable image showing a face (of
several, the largest is taken, and a note says so). What the tracker needs of it is its dlib
identity descriptor (:class:`~stitchtime.config.ReferenceFace`, 128 floats), so worker processes
and Ray tasks get that in the config, never the file. In the clip the tracker follows the face
whose descriptor is nearest the photo's, under dlib's same-person threshold
(:mod:`stitchtime.faces.track`).
"""

from __future__ import annotations

import os
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from stitchtime.config import DetectConfig, PipelineConfig, ReferenceFace
from stitchtime.errors import InputError
from stitchtime.faces.detect import face_descriptor, make_backend

# Photos are usually larger than video frames and may show a group: detect on a copy whose longer
# side is at most this (the clips' 640 would miss the faces of a group photo).
PHOTO_MAX_SIDE = 1280


def read_photo(path: Path) -> np.ndarray:
    """The photo as uint8 RGB ``(H, W, 3)``, upright (EXIF orientation applied); InputError when it
    is missing or not a readable image."""
    from PIL import Image, ImageOps

    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a photo")
    if not path.is_file():
        raise InputError(f"{path}: not a regular file (a pipe, socket or device); give a photo")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: not readable (permission denied)")
    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)
            return np.ascontiguousarray(np.asarray(image.convert("RGB")))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise InputError(f"{path}: not a readable image ({type(err).__name__})") from None


def load_reference_face(photo: Path, detect: DetectConfig = DetectConfig()) -> ReferenceFace:
    """The reference person of ``photo`` (``detect``'s backend finds the face). Cached while the file
    is unchanged. InputError: not a readable image, or no face in it."""
    photo = Path(photo)
    try:
        stat = photo.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
    except OSError:
        stamp = None  # read_photo says what is wrong
    return _load(photo, stamp, replace(detect, face_index=None, reference_face=None))


@lru_cache(maxsize=8)
def _load(photo: Path, stamp: tuple[int, int] | None, detect: DetectConfig) -> ReferenceFace:
    image = read_photo(photo)
    backend = make_backend(replace(detect, max_side=max(detect.max_side, PHOTO_MAX_SIDE)))
    faces = backend.detect(image)  # largest first
    if not faces:
        raise InputError(f"{photo}: no face found in the reference photo")
    notes = ()
    if len(faces) > 1:
        notes = (f"{photo.name}: {len(faces)} faces in the reference photo; the largest is the person followed",)
    descriptor = face_descriptor(image, faces[0].landmarks)
    return ReferenceFace(photo=photo, descriptor=tuple(float(v) for v in descriptor), notes=notes)


def resolve_reference(config: PipelineConfig) -> PipelineConfig:
    """``config`` with a ``--reference-face`` path read (:func:`load_reference_face`) and replaced
    by its :class:`ReferenceFace`; unchanged without one, or when it is already read."""
    ref = config.detect.reference_face
    if not isinstance(ref, Path):
        return config
    return replace(config, detect=replace(config.detect, reference_face=load_reference_face(ref, config.detect)))


def reference_descriptor(detect: DetectConfig) -> tuple[ReferenceFace, np.ndarray] | None:
    """The reference person of ``detect`` and its descriptor as an array (None: no reference)."""
    ref = detect.reference_face
    if ref is None:
        return None
    if isinstance(ref, Path):
        ref = load_reference_face(ref, detect)
    return ref, np.asarray(ref.descriptor, np.float32)
