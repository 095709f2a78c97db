"""``MediaConfig`` and ``IceServer`` validate themselves."""

from __future__ import annotations

import pytest

from media import IceServer, MediaConfig


def test_defaults_are_production_safe() -> None:
    config = MediaConfig()
    assert config.allow_private_candidates is False
    assert config.ice_servers == ()
    assert config.codec_preferences[0] == "video/VP8"


def test_turn_server_needs_credentials() -> None:
    with pytest.raises(ValueError, match="username"):
        IceServer(urls=("turn:turn.example.org:3478",))
    server = IceServer(urls=("turn:turn.example.org:3478",), username="1700000000:abc", credential="x")
    assert server.urls[0].startswith("turn:")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_queued_video_frames": 0},
        {"keyframe_retry_s": 0},
        {"codec_preferences": ("video/VP9", "audio/opus")},
        {"codec_preferences": ("video/VP8",)},
    ],
)
def test_invalid_settings_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        MediaConfig(**kwargs)  # type: ignore[arg-type]


def test_ice_server_urls_need_a_scheme() -> None:
    with pytest.raises(ValueError, match="must start"):
        IceServer(urls=("turn.example.org",))
