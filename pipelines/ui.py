"""`stitchtime ui`: a local web app (Gradio) over the Python API.

Upload a video, pick the attribute, strength, method and face, look at a one-frame preview
(:mod:`pipelines.preview_frame`, seconds), then run the full edit with the pipeline's own
progress, and get the original and the result side by side plus the exact output file. One edit
runs at a time (a queue: two users do not run two edits at once on a small machine). Errors are
the CLI's one-line messages, shown in the page.

The handlers are plain functions of the controls' values (tested without a browser); Gradio is
imported only by :func:`build_app` (the ``[ui]`` extra).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from pipelines.api import edit_file, edit_request, list_attributes
from stitchtime.config import DetectConfig, EditSpan, EncodeConfig, Method, PipelineConfig
from stitchtime.errors import InputError, StitchtimeError
from stitchtime.progress import listen

# Gradio's usage statistics and version check would call out to the internet: off, before it is imported.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

DEFAULT_PORT = 7860
FACE_CHOICES = ("largest", "index", "reference photo")
CODECS = ("libx264", "libx265", "libvpx-vp9", "libsvtav1")  # those the ffmpeg build has are offered
# the pipeline's passes (stitchtime.progress descs), in order: what the page calls them
PASSES = {"track faces": "tracking the face", "invert": "fitting the edit", "render": "rendering"}


def error_text(err: BaseException) -> str:
    """What the page shows for a user error: the CLI's line."""
    return f"stitchtime: error: {err}"


def attribute_choices(experimental: bool = False, model: Path | None = None) -> list[str]:
    return ["none"] + [a["name"] for a in list_attributes(model, experimental)]


def _optional(value: Any) -> float | None:
    return None if value is None or value == "" else float(value)


def _text(value: str | None) -> str | None:
    return None if value is None or not str(value).strip() else str(value).strip()


def build_request(
    attr: str,
    strength: float,
    method: str = "auto",
    experimental: bool = False,
    face: str = "largest",
    face_index: float | None = None,
    reference: str | None = None,
    start: str | None = None,
    end: str | None = None,
    mask_blur: float | None = None,
    mask_padding: float | None = None,
    codec: str = "libx264",
    crf: float | None = None,
    model: Path | None = None,
):
    """The :class:`~stitchtime.config.EditRequest` of the page's controls (the CLI's checks)."""
    from stitchtime.span import check_span

    if face not in FACE_CHOICES:
        raise InputError(f"face: unknown choice {face!r}; valid: {', '.join(FACE_CHOICES)}")
    detect = DetectConfig()
    if face == "index":
        if face_index is None or float(face_index) < 0 or float(face_index) != int(face_index):
            raise InputError("face index: give a whole number >= 0 (0: the leftmost face)")
        detect = replace(detect, face_index=int(face_index))
    elif face == "reference photo":
        if not reference:
            raise InputError("reference photo: upload a photo of the person to edit")
        detect = replace(detect, reference_face=Path(reference))
    span = EditSpan(_text(start), _text(end))
    check_span(span)
    blur, padding = _optional(mask_blur), _optional(mask_padding)
    if blur is not None and not 0 <= blur <= 1:
        raise InputError(f"mask blur: {blur} is not in 0..1")
    if padding is not None and not -0.3 <= padding <= 0.5:
        raise InputError(f"mask padding: {padding} is not in -0.3..0.5")
    encode = EncodeConfig(codec=codec or "libx264", **({} if crf is None or crf == "" else {"crf": int(crf)}))
    pipeline = PipelineConfig(
        detect=detect, encode=encode, span=span, mask_blur=blur, mask_padding=padding, progress=False
    )
    return edit_request(
        attr, float(strength), method=Method(method), experimental=bool(experimental), model=model, pipeline=pipeline
    )


def output_name(video: Path, attr: str, codec: str) -> str:
    suffix = ".webm" if codec.startswith("libvpx") else ".mp4"
    return f"{video.stem}.{attr}{suffix}"


def describe(video: str | None) -> str:
    """The status line of an upload: what the file is, or the CLI's error for it."""
    if not video:
        return "Upload a video to start."
    from stitchtime.io.probe import probe

    try:
        meta = probe(Path(video))
    except StitchtimeError as err:
        return error_text(err)
    audio = f", audio {meta.audio_codec}" if meta.has_audio else ", no audio"
    return (
        f"**{Path(video).name}**: {meta.width}x{meta.height}, {meta.n_frames} frames, "
        f"{meta.fps:.3g} fps, {meta.duration:.2f} s{audio}. Preview one frame, or run the edit."
    )


def preview(video: str | None, *controls: Any, model: Path | None = None):
    """(crop before|after, frame before|after, status) for the page."""
    from pipelines.preview_frame import preview_frame

    if not video:
        return None, None, error_text(InputError("upload a video first"))
    start = time.perf_counter()
    try:
        p = preview_frame(Path(video), build_request(*controls, model=model))
    except StitchtimeError as err:
        return None, None, error_text(err)
    notes = "".join(f"\n\n{n}" for n in p.notes)
    status = f"Preview of frame {p.frame_index} (left: original, right: edited) in {time.perf_counter() - start:.1f} s."
    return np.hstack([p.crop_before, p.crop_after]), np.hstack([p.frame_before, p.frame_after]), status + notes


class _Progress:
    """The latest progress the pipeline reported (from its threads), read by the handler."""

    def __init__(self) -> None:
        self.state: tuple[str, int, int] | None = None

    def __call__(self, desc: str, done: int, total: int) -> None:
        self.state = (desc, done, total)


def run_edit(
    video: str | None,
    *controls: Any,
    out_dir: Path,
    model: Path | None = None,
    report: Callable[[float, str], None] | None = None,
):
    """(original, edited video, the output file, status) for the page; ``report(fraction, text)``
    is called with the pipeline's progress while it runs."""
    if not video:
        return None, None, None, error_text(InputError("upload a video first"))
    try:
        request = build_request(*controls, model=model)
    except StitchtimeError as err:
        return None, None, None, error_text(err)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=out_dir))
    output = work / output_name(Path(video), request.attr, request.pipeline.encode.codec)
    outcome: dict[str, Any] = {}
    seen = _Progress()

    def edit() -> None:
        try:
            outcome["result"] = edit_file(
                video,
                output,
                request.attr,
                request.strength,
                method=request.options.method,
                experimental=request.options.experimental,
                model=request.model,
                pipeline=request.pipeline,
            )
        except StitchtimeError as err:
            outcome["error"] = err
        except BaseException as err:  # noqa: BLE001 - re-raised on the handler's thread below
            outcome["crash"] = err

    with listen(seen):
        worker = threading.Thread(target=edit, name="stitchtime-ui-edit", daemon=True)
        worker.start()
        while worker.is_alive():
            worker.join(0.25)
            if report is not None and seen.state is not None:
                desc, done, total = seen.state
                stage = list(PASSES).index(desc) if desc in PASSES else len(PASSES) - 1
                fraction = (stage + done / max(total, 1)) / len(PASSES)
                step = f"step {stage + 1} of {len(PASSES)}, {PASSES.get(desc, desc)}"
                report(fraction, f"{step}: {done}/{total} frames")
    if "crash" in outcome:
        raise outcome["crash"]
    if "error" in outcome:
        shutil.rmtree(work, ignore_errors=True)
        return video, None, None, error_text(outcome["error"])
    result = outcome["result"]
    notes = "".join(f"\n\n{n}" for n in result.notes)
    status = f"Done: **{output.name}**, {result.frames} frames in {result.seconds:.1f} s." + notes
    return video, str(output), str(output), status


def build_app(model: Path | None = None):
    """The Gradio Blocks app (not launched)."""
    import gradio as gr

    from stitchtime.io.ffmpeg import has_encoder

    out_dir = Path(tempfile.mkdtemp(prefix="stitchtime-ui-"))
    atexit.register(shutil.rmtree, out_dir, True)
    codecs = [c for c in CODECS if has_encoder(c)]

    with gr.Blocks(title="stitchtime", delete_cache=(3600, 3600)) as app:
        gr.Markdown("# stitchtime\nEdit the face in a video: same length, frame rate, size and audio back.")
        with gr.Row():
            with gr.Column(scale=1):
                video = gr.Video(label="Video", format=None, sources=["upload"], elem_id="video-in")
                with gr.Row():
                    attr = gr.Dropdown(
                        attribute_choices(False, model), value="smile", label="Attribute", elem_id="attr"
                    )
                    experimental = gr.Checkbox(False, label="experimental edits", elem_id="experimental")
                strength = gr.Slider(
                    -2, 2, value=1, step=0.1, label="Strength (1: the edit, -1: its removal)", elem_id="strength"
                )
                method = gr.Dropdown([m.value for m in Method], value="auto", label="Method", elem_id="method")
                with gr.Row():
                    face = gr.Radio(list(FACE_CHOICES), value="largest", label="Face", elem_id="face")
                    face_index = gr.Number(0, precision=0, minimum=0, label="Face index (left to right)")
                reference = gr.Image(type="filepath", label="Reference photo (the person to edit)", height=160)
                with gr.Accordion("Stretch, mask and encoder", open=False):
                    with gr.Row():
                        start = gr.Textbox(label="Start (frame or time, e.g. 00:00:02)", elem_id="start")
                        end = gr.Textbox(label="End (exclusive)", elem_id="end")
                    with gr.Row():
                        mask_blur = gr.Number(None, label="Mask blur 0-1 (blank: the editor's)", elem_id="mask-blur")
                        mask_padding = gr.Number(None, label="Mask padding, face widths", elem_id="mask-padding")
                    with gr.Row():
                        codec = gr.Dropdown(codecs, value="libx264", label="Codec", elem_id="codec")
                        crf = gr.Number(EncodeConfig.crf, precision=0, minimum=0, maximum=63, label="CRF")
                with gr.Row():
                    preview_btn = gr.Button("Preview one frame", elem_id="preview-btn")
                    run_btn = gr.Button("Run the edit", variant="primary", elem_id="run-btn")
            with gr.Column(scale=1):
                status = gr.Markdown("Upload a video to start.", elem_id="status")
                crop_img = gr.Image(label="Face crop: original | edited", interactive=False, elem_id="preview-crop")
                frame_img = gr.Image(label="Frame: original | edited", interactive=False, elem_id="preview-frame")
        with gr.Row():
            original = gr.Video(label="Original", interactive=False, elem_id="video-original")
            edited = gr.Video(label="Edited", interactive=False, elem_id="video-edited")
        download = gr.File(label="Download the output file", interactive=False, elem_id="download")

        controls = [
            attr,
            strength,
            method,
            experimental,
            face,
            face_index,
            reference,
            start,
            end,
            mask_blur,
            mask_padding,
            codec,
            crf,
        ]

        def on_preview(v, *c):
            return preview(v, *c, model=model)

        def on_run(v, *c, progress=gr.Progress()):
            return run_edit(v, *c, out_dir=out_dir, model=model, report=lambda f, text: progress(f, desc=text))

        video.change(describe, video, status, api_name="describe")
        experimental.change(
            lambda e, a: gr.Dropdown(choices=attribute_choices(e, model), value=a if e or a == "smile" else "smile"),
            [experimental, attr],
            attr,
            api_name=False,
        )
        preview_btn.click(
            on_preview,
            [video, *controls],
            [crop_img, frame_img, status],
            api_name="preview",
            concurrency_id="edit",
            concurrency_limit=1,
        )
        run_btn.click(
            on_run,
            [video, *controls],
            [original, edited, download, status],
            api_name="run",
            concurrency_id="edit",
            concurrency_limit=1,
        )
    app.queue(max_size=16)
    return app


def launch(host: str = "127.0.0.1", port: int = DEFAULT_PORT, model: Path | None = None, block: bool = True):
    """Serve the app on ``host:port`` (127.0.0.1: this machine only, no authentication)."""
    import socket

    import gradio as gr

    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError as err:
            raise InputError(f"cannot serve on {host}:{port}: {err.strerror or err}; choose another --port") from None
    app = build_app(model)
    font = ["ui-sans-serif", "system-ui", "sans-serif"]  # no web fonts: the page works offline
    theme = gr.themes.Default(font=font, font_mono=["ui-monospace", "monospace"])
    return app.launch(
        server_name=host,
        server_port=port,
        theme=theme,
        ssr_mode=False,
        show_error=True,
        quiet=True,
        prevent_thread_lock=not block,
        footer_links=["api"],
    )
