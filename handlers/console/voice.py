"""Voice notes every browser can play: WeChat's AMR (and Speex) decoded once to WAV, kept in the media store."""

from __future__ import annotations

import os
import tempfile
import wave
from pathlib import Path

from core.errors import KefuError

# What Chromium, Firefox and Safari play as they are; anything else is decoded to WAV first.
BROWSER_AUDIO = frozenset({"audio/mpeg", "audio/ogg", "audio/wav", "audio/mp4", "audio/aac", "audio/webm"})
CACHE = "playable"


class UndecodableAudio(KefuError):
    """The stored file is not audio kefu can decode."""

    status_code = 422


def needs_decoding(mime: str | None) -> bool:
    return (mime or "").startswith("audio/") and mime not in BROWSER_AUDIO


def playable_wav(source: Path, media_dir: Path) -> Path:
    """The WAV beside the media store's copy of `source`, decoded on first use (blocking: call in a thread)."""
    target = media_dir / CACHE / (source.stem + ".wav")
    if target.is_file():
        return target
    # PyAV (FFmpeg's libraries, about 20 MiB) is loaded by the first voice note a rep plays, not by every process.
    import av

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=target.parent, suffix=".part")
    os.close(fd)
    try:
        with av.open(str(source)) as container:
            if not container.streams.audio:
                raise UndecodableAudio("the file holds no audio")
            stream = container.streams.audio[0]
            rate = stream.rate or 8000
            resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
            with wave.open(partial, "wb") as out:
                out.setnchannels(1)
                out.setsampwidth(2)
                out.setframerate(rate)
                for frame in container.decode(stream):
                    for converted in resampler.resample(frame):
                        out.writeframes(bytes(converted.planes[0])[: converted.samples * 2])
                for converted in resampler.resample(None):
                    out.writeframes(bytes(converted.planes[0])[: converted.samples * 2])
        os.replace(partial, target)
    except av.error.FFmpegError as exc:
        raise UndecodableAudio(f"the voice note cannot be decoded: {type(exc).__name__}") from None
    finally:
        Path(partial).unlink(missing_ok=True)
    return target
