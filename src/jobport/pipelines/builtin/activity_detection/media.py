"""Image and video inputs as OpenAI-style content parts for multimodal models.

Images pass through as data URLs. Videos are decoded with PyAV and sampled evenly to at most
`max_video_frames` frames, each sent as a JPEG data URL.
"""

from __future__ import annotations

import base64
import io
from typing import Any


def _image_mime(raw: bytes) -> str:
    if raw.startswith(b"\x89PNG"):
        return "image/png"
    if raw.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if raw[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        return "image/webp"
    raise ValueError("image data is not PNG, JPEG, GIF or WebP")


def image_part(data_b64: str) -> dict[str, Any]:
    raw = base64.b64decode(data_b64, validate=True)
    return {"type": "image_url", "image_url": {"url": f"data:{_image_mime(raw)};base64,{data_b64}"}}


def video_parts(data_b64: str, max_frames: int) -> list[dict[str, Any]]:
    import av  # PyAV bundles FFmpeg; imported only for video inputs

    raw = base64.b64decode(data_b64, validate=True)
    try:
        with av.open(io.BytesIO(raw)) as container:
            frames = [frame.to_image() for frame in container.decode(video=0)]
    except (av.error.FFmpegError, ValueError, IndexError) as err:
        raise ValueError(f"video could not be decoded: {err}") from None
    if not frames:
        raise ValueError("video has no frames")
    step = max(1, -(-len(frames) // max_frames))
    parts = []
    for image in frames[::step][:max_frames]:
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="JPEG", quality=85)
        encoded = base64.b64encode(buffer.getvalue()).decode()
        parts.append({"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{encoded}"}})
    return parts
