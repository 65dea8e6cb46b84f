"""A recording's media: nobody speaks on a simulated call, so it holds a quiet tone per channel
(a different pitch each, to tell the parties apart), as a real WAV, kept a few seconds long."""

from __future__ import annotations

import io
import math
import sys
import wave
from array import array
from functools import lru_cache

SAMPLE_RATE = 8000  # Twilio's recordings: 8 kHz, 16-bit PCM
MAX_SECONDS = 5  # however long the call: the files stay small
TONES_HZ = (440.0, 660.0)  # the parent leg's channel, then the dialled party's
AMPLITUDE = 3000  # of 32767: quiet


@lru_cache(maxsize=2 * MAX_SECONDS)
def tone_wav(seconds: int, channels: int) -> bytes:
    """`seconds` (at least 1, at most MAX_SECONDS) of 16-bit PCM, one tone per channel."""
    length = min(max(seconds, 1), MAX_SECONDS) * SAMPLE_RATE
    steps = [2 * math.pi * hz / SAMPLE_RATE for hz in TONES_HZ[:channels]]
    samples = array(
        "h", (round(AMPLITUDE * math.sin(step * n)) for n in range(length) for step in steps)
    )
    if sys.byteorder == "big":
        samples.byteswap()  # WAV is little-endian
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(samples.tobytes())
    return buffer.getvalue()
