"""stitchtime: edit faces in real videos (decode, detect, track, align, invert, edit, stitch, encode)."""

__version__ = "0.1.0"
