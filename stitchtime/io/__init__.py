"""Video I/O through an ffmpeg subprocess (no ffprobe, no PyAV).

Convention (shared by probe / decode / encode):

* ``probe(path) -> VideoMeta``: size after rotation, SAR, codec, rotation, audio,
  video start offset, and every frame's presentation timestamp (seconds, first
  frame at 0; ``start_time`` is the first frame's time on the container clock).
* ``VideoReader(path)`` yields exactly ``meta.n_frames`` ``uint8 (H, W, 3)`` RGB
  frames, one per stored frame (VFR stays VFR), rotation applied, pixels as stored.
* ``VideoWriter(path, meta, EncodeConfig(), audio_from=src)`` encodes such frames
  with the same size, SAR, per-frame timestamps and start offset, copies the
  audio, and makes the file appear atomically (never overwrites unless asked).
* Errors: a missing / unwritable path is an ``InputError``; anything that is not
  a decodable video, or an ffmpeg failure, is a ``VideoError`` with one line.
"""

from stitchtime.io.decode import VideoReader, read_frames
from stitchtime.io.encode import VideoWriter
from stitchtime.io.ffmpeg import ffmpeg_exe
from stitchtime.io.probe import probe

__all__ = ["VideoReader", "VideoWriter", "ffmpeg_exe", "probe", "read_frames"]
