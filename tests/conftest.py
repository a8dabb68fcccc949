"""Shared fixtures: the real data in ../shared/data (skipped with a reason when absent)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
VIDEOS = SHARED_DATA / "videos"
CELEBA = SHARED_DATA / "celeba"


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real data not found at {path} (clone beside ../shared to run this test)")
    return path


@pytest.fixture(scope="session")
def shared_videos() -> Path:
    return _need(VIDEOS)


@pytest.fixture(scope="session")
def celeba_dir() -> Path:
    return _need(CELEBA)


def shared_video(name: str) -> Path:
    return _need(VIDEOS / name)


def shared_photo(name: str) -> Path:
    return _need(SHARED_DATA / "photos" / name)


def free_port() -> int:
    """A TCP port free on loopback right now (for the servers tests start)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
