"""Writing recorded frames to an mp4 that common players open: H.264 (yuv420p) through imageio-ffmpeg when it is
installed, else OpenCV's mp4v codec.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from sample_factory.utils.utils import ensure_dir_exists, is_module_available, log


class VideoError(RuntimeError):
    """No video backend is installed, or the frames cannot be encoded."""


def _as_rgb_uint8(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        scale = 255.0 if frame.dtype.kind == "f" and frame.max(initial=0.0) <= 1.0 else 1.0
        frame = np.clip(frame * scale, 0, 255).astype(np.uint8)
    if frame.ndim == 2:
        frame = np.stack([frame] * 3, axis=-1)
    if frame.ndim == 3 and frame.shape[0] in (1, 3) and frame.shape[-1] not in (1, 3):  # CHW -> HWC
        frame = np.transpose(frame, (1, 2, 0))
    if frame.shape[-1] == 1:
        frame = np.repeat(frame, 3, axis=-1)
    return frame


def _pad_to_even(frame: np.ndarray) -> np.ndarray:
    """yuv420p needs even width and height: pad one black row/column where needed."""
    h, w = frame.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return frame
    return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)))


def available_backend() -> str | None:
    """'imageio-ffmpeg' (H.264), 'opencv' (mp4v) or None."""
    if is_module_available("imageio") and is_module_available("imageio_ffmpeg"):
        return "imageio-ffmpeg"
    if is_module_available("cv2"):
        return "opencv"
    return None


def save_video(frames: Sequence[np.ndarray], path: str, fps: int = 30, backend: str | None = None) -> str:
    """Encode RGB frames (HWC uint8; grayscale, CHW and float frames are converted) to an mp4 at `path`."""
    if len(frames) == 0:
        raise VideoError(f"No frames to write to {path}: the env returned no rgb_array frames")
    backend = backend or available_backend()
    if backend is None:
        raise VideoError("No video writer installed: pip install imageio imageio-ffmpeg (or opencv-python)")
    fps = int(fps) if fps and fps > 0 else 30
    ensure_dir_exists(os.path.dirname(os.path.abspath(path)))
    rgb = [_pad_to_even(_as_rgb_uint8(f)) for f in frames]
    if backend == "imageio-ffmpeg":
        import imageio.v2 as imageio

        with imageio.get_writer(
            path,
            fps=fps,
            codec="libx264",
            pixelformat="yuv420p",
            macro_block_size=1,
            ffmpeg_log_level="error",
            output_params=["-movflags", "+faststart"],
        ) as writer:
            for frame in rgb:
                writer.append_data(frame)  # type: ignore[attr-defined]
    elif backend == "opencv":
        import cv2

        h, w = rgb[0].shape[:2]
        cv_writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))  # type: ignore[attr-defined]
        if not cv_writer.isOpened():
            raise VideoError(f"OpenCV could not open a video writer for {path}")
        try:
            for frame in rgb:
                cv_writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        finally:
            cv_writer.release()
    else:
        raise VideoError(f"Unknown video backend {backend!r}: use 'imageio-ffmpeg' or 'opencv'")
    log.info("Saved %d frames (%d fps, %s) to %s", len(rgb), fps, backend, path)
    return path
