"""stitchtime: edit faces in real videos (decode, detect, track, align, invert, edit, stitch, encode)."""

__version__ = "0.1.0"

# The public API (edit_file, batch_folder, list_attributes, edit_request) composes the whole
# pipeline, so it lives in pipelines/api.py; this package re-exports it on first use (the one
# place stitchtime may import pipelines: tests/test_import_direction.py).
_API = ("edit_file", "batch_folder", "list_attributes", "edit_request")
__all__ = [*_API, "__version__"]


def __getattr__(name: str):
    if name in _API:
        from pipelines import api

        return getattr(api, name)
    raise AttributeError(f"module 'stitchtime' has no attribute {name!r}")
