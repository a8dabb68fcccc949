"""`stitchtime ui`: the handlers, the Gradio API (gradio_client) and the page in a real headless
browser (Debian's chromium driven by Playwright; no browser is downloaded). Screenshots of each
step are saved under artifacts/ui/."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from pipelines import ui
from stitchtime.errors import InputError
from stitchtime.io import probe
from stitchtime.io.ffmpeg import ffmpeg_exe
from tests.conftest import free_port, shared_video

gradio = pytest.importorskip("gradio", reason="the [ui] extra (gradio) is not installed")

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "artifacts" / "ui"
CHROMIUM = Path("/usr/bin/chromium")
# what Debian's chromium needs headless as root on a machine with no network
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# the controls after the video, in the page's order (api_name /preview and /run)
DEFAULTS = ["smile", 1.0, "auto", False, "largest", 0, None, "", "", None, None, "libx264", 15]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """1.6 s of a real talking-head clip, with its audio."""
    out = tmp_path_factory.mktemp("ui") / "talk.mp4"
    src = shared_video("retalking_face_3.mp4")
    cmd = [ffmpeg_exe(), "-v", "error", "-i", str(src), "-t", "1.6", "-c:v", "libx264", "-preset", "ultrafast"]
    subprocess.run([*cmd, "-c:a", "aac", str(out)], check=True)
    return out


@pytest.fixture(scope="module")
def server():
    port = free_port()
    _, url, _ = ui.launch("127.0.0.1", port, block=False)
    yield url
    gradio.close_all()


def test_controls_are_checked_like_the_cli():
    with pytest.raises(InputError, match="whole number"):
        ui.build_request("smile", 1, face="index", face_index=-1)
    with pytest.raises(InputError, match="upload a photo"):
        ui.build_request("smile", 1, face="reference photo")
    with pytest.raises(InputError, match="--start"):
        ui.build_request("smile", 1, start="soon")
    with pytest.raises(InputError, match="mask blur"):
        ui.build_request("smile", 1, mask_blur=3)
    request = ui.build_request("smile", -1, start="10", end="2s", mask_blur=0.5, codec="libx264", crf=20)
    assert request.strength == -1 and request.pipeline.span.start == "10" and request.pipeline.encode.crf == 20
    assert ui.attribute_choices()[:2] == ["none", "smile"]
    assert len(ui.attribute_choices(experimental=True)) > 2


def test_bad_upload_is_the_cli_line(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video\n")
    assert ui.describe(str(bad)).startswith("stitchtime: error:")
    assert "frames" in ui.describe(str(shared_video("retalking_face_3.mp4")))


def test_gradio_client_api(server, clip):
    from gradio_client import Client, handle_file

    client = Client(server, verbose=False)
    crop, frame, status = client.predict(handle_file(str(clip)), *DEFAULTS, api_name="/preview")
    assert status.startswith("Preview of frame"), status
    assert Path(crop).exists() and Path(frame).exists()
    original, edited, output, status = client.predict(handle_file(str(clip)), *DEFAULTS, api_name="/run")
    assert status.startswith("Done"), status
    assert probe(output).n_frames == probe(clip).n_frames
    assert probe(output).has_audio
    # a bad value comes back as the error line, not a crash
    controls = [*DEFAULTS[:4], "reference photo", *DEFAULTS[5:]]
    *_, status = client.predict(handle_file(str(clip)), *controls, api_name="/run")
    assert status.startswith("stitchtime: error: reference photo"), status


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (make install does it as root)")
def test_in_a_real_browser(server, clip, tmp_path):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    status_has = "text => document.querySelector('#status').innerText.includes(text)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        page.goto(server)
        page.wait_for_selector("#video-in")
        page.screenshot(path=SHOTS / "1_start.png", full_page=True)

        bad = tmp_path / "broken.mp4"
        bad.write_bytes(os.urandom(4096))
        page.locator("#video-in input[type=file]").set_input_files(str(bad))
        page.wait_for_function(status_has, arg="stitchtime: error:", timeout=60_000)
        page.screenshot(path=SHOTS / "2_bad_upload.png", full_page=True)
        page.reload()  # a fresh page (and no stale "Video not playable" toast of Gradio's own)
        page.wait_for_selector("#video-in")

        page.locator("#video-in input[type=file]").set_input_files(str(clip))
        page.wait_for_function(status_has, arg="40 frames", timeout=60_000)
        page.screenshot(path=SHOTS / "3_uploaded.png", full_page=True)

        page.click("#preview-btn")
        page.wait_for_function(status_has, arg="Preview of frame", timeout=180_000)
        assert page.locator("#preview-crop img").count() == 1
        page.screenshot(path=SHOTS / "4_preview.png", full_page=True)

        page.click("#run-btn")
        # the pipeline's own progress (a pass and its frames), not a spinner
        progress = (
            r"() => /(tracking the face|fitting the edit|rendering): \d+\/\d+ frames/.test(document.body.innerText)"
        )
        page.wait_for_function(progress, timeout=60_000)
        page.screenshot(path=SHOTS / "5_running.png", full_page=True)
        page.wait_for_function(status_has, arg="Done", timeout=600_000)
        page.wait_for_function(
            "() => { const v = document.querySelector('#video-edited video');"
            " return v && v.readyState >= 1 && v.duration > 1; }",
            timeout=60_000,
        )
        src = page.evaluate("() => document.querySelector('#video-edited video').src")
        assert src.endswith("talk.smile.mp4")
        page.screenshot(path=SHOTS / "6_done.png", full_page=True)

        with page.expect_download() as info:
            page.locator("#download a").first.click()
        saved = tmp_path / info.value.suggested_filename
        info.value.save_as(saved)
        browser.close()
    assert saved.name == "talk.smile.mp4"
    assert probe(saved).n_frames == probe(clip).n_frames == 40


def test_one_edit_at_a_time(server, clip, monkeypatch):
    """Two users' runs at once: the second waits in the queue until the first is done (one edit
    at a time on a small machine). The server runs in this process, so its edits are counted."""
    import threading

    from gradio_client import Client, handle_file

    running, peak, lock, inputs = [0], [0], threading.Lock(), []
    real = ui.edit_file

    def counted(*args, **kwargs):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            inputs.append(Path(args[0]).read_bytes())
        try:
            return real(*args, **kwargs)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(ui, "edit_file", counted)
    jobs = [Client(server, verbose=False).submit(handle_file(str(clip)), *DEFAULTS, api_name="/run") for _ in range(2)]
    assert not any(j.done() for j in jobs)  # both asked before either finished
    assert all(j.result()[3].startswith("Done") for j in jobs)
    assert peak[0] == 1
    assert inputs == [clip.read_bytes()] * 2  # the upload reaches the edit as it was, not re-encoded


def test_cli_port_in_use_is_one_line():
    from typer.testing import CliRunner

    from cli import app

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(app, ["ui", "--port", str(port)])
    assert result.exit_code == 2, result.output
    lines = [x for x in result.output.splitlines() if x.startswith("stitchtime: error:")]
    assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0] and "--port" in lines[0], result.output
