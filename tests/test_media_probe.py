"""verifier.media: probing, packet times, frame sampling and audio decoding.

Fixtures are generated once per session with ffmpeg's lavfi sources (2-5 s, tiny).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from verifier import media
from verifier.media import MediaError, decode_audio, iter_frames, keyframe_times, packet_times, probe

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
                                reason="ffmpeg/ffprobe not installed")

SR = 16000
VIDEO = ["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=3"]
TONE = ["-f", "lavfi", "-i", f"sine=frequency=440:duration=3:sample_rate={SR}"]
H264 = ["-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p"]


def _ff(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y", *args], check=True)


def _half(src: Path, dst: Path) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])
    return dst


@pytest.fixture(scope="session")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("media")
    f = {k: d / v for k, v in {
        "good": "good.mp4", "fast": "fast.mp4", "wav": "tone.wav", "stereo": "stereo.wav",
        "vonly": "video_only.mp4", "delayed_ts": "video_late.ts", "audio_late": "audio_late.mp4",
    }.items()}
    _ff(*VIDEO, *TONE, *H264, "-c:a", "aac", "-shortest", str(f["good"]))
    _ff(*VIDEO, *TONE, *H264, "-c:a", "aac", "-shortest", "-movflags", "+faststart", str(f["fast"]))
    _ff(*TONE, str(f["wav"]))
    _ff("-f", "lavfi", "-i", f"sine=frequency=440:duration=3:sample_rate={SR}",
        "-f", "lavfi", "-i", f"sine=frequency=1000:duration=3:sample_rate={SR}",
        "-filter_complex", "[0:a][1:a]amerge=inputs=2[a]", "-map", "[a]", str(f["stereo"]))
    _ff(*VIDEO, *H264, str(f["vonly"]))
    # MPEG-TS (container start 1.4 s) whose video starts 2 s after its audio
    _ff("-itsoffset", "2", *VIDEO, "-f", "lavfi", "-i", "sine=frequency=440:duration=5",
        *H264, "-c:a", "aac", str(f["delayed_ts"]))
    # mp4 whose audio starts 1 s after the video
    _ff("-f", "lavfi", "-i", "testsrc=size=160x120:rate=25:duration=4", "-itsoffset", "1", *TONE,
        *H264, "-c:a", "aac", str(f["audio_late"]))

    f["trunc_end"] = _half(f["good"], d / "cut_moov_at_end.mp4")  # moov lost
    f["trunc_fast"] = _half(f["fast"], d / "cut_faststart.mp4")  # moov kept, data cut
    f["empty"] = d / "empty.mp4"
    f["empty"].write_bytes(b"")
    f["text"] = d / "notes.mp4"
    f["text"].write_text("this is not a video\n" * 20)
    f["dir"] = d / "folder.mp4"
    f["dir"].mkdir()
    f["missing"] = d / "missing.mp4"
    # a header that claims a duration of 49 days (mvhd duration patched)
    data = bytearray(f["good"].read_bytes())
    i = data.find(b"mvhd")
    assert i > 0 and data[i + 4] == 0  # version 0: 32-bit fields
    data[i + 20:i + 24] = (0xFFFFFF00).to_bytes(4, "big")
    f["huge"] = d / "huge_duration.mp4"
    f["huge"].write_bytes(bytes(data))
    return f


def _dominant_hz(x: np.ndarray, sr: int = SR) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / sr)[int(np.argmax(spec))])


def _band_energy(x: np.ndarray, hz: float, sr: int = SR) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / sr)
    return float(spec[(freqs > hz - 20) & (freqs < hz + 20)].sum())


# --------------------------------------------------------------------------- probe


def test_probe_good_mp4(files):
    info = probe(files["good"])
    assert info.path == files["good"]
    assert "mp4" in info.format_name
    assert info.size_bytes == files["good"].stat().st_size
    assert info.duration_s == pytest.approx(3.0, abs=0.1)
    v, a = info.video, info.audio
    assert (v.codec, v.width, v.height) == ("h264", 320, 240)
    assert v.fps == pytest.approx(25.0)
    assert v.duration_s == pytest.approx(3.0, abs=0.05)
    assert v.frame_count == 75
    assert v.start_s == 0.0 and v.rotation == 0
    assert (a.codec, a.sample_rate, a.channels) == ("aac", SR, 1)
    assert a.duration_s == pytest.approx(3.0, abs=0.1)


def test_probe_audio_only_wav(files):
    info = probe(files["wav"])
    assert info.video is None
    assert info.audio.codec == "pcm_s16le"
    assert (info.audio.sample_rate, info.audio.channels) == (SR, 1)
    assert info.audio.duration_s == pytest.approx(3.0, abs=0.01)
    assert probe(files["stereo"]).audio.channels == 2


def test_video_without_audio(files):
    info = probe(files["vonly"])
    assert info.audio is None and info.video.width == 320
    with pytest.raises(MediaError, match=r"^video_only\.mp4: no audio stream$"):
        decode_audio(files["vonly"])
    with pytest.raises(MediaError, match="no audio stream"):
        packet_times(files["vonly"], "audio")


def test_audio_only_has_no_frames(files):
    with pytest.raises(MediaError, match=r"tone\.wav: no video stream"):
        list(iter_frames(files["wav"], fps=1))


@pytest.mark.parametrize("key, expected", [
    ("empty", "empty.mp4: file is empty"),
    ("text", "notes.mp4: not a media file (ffprobe: Invalid data found when processing input)"),
    ("trunc_end", "cut_moov_at_end.mp4: truncated or corrupt: moov atom not found"),
    ("dir", "folder.mp4: is a directory, not a media file"),
    ("missing", "missing.mp4: file not found"),
    ("huge", "huge_duration.mp4: nonsense duration 4294967 s (over 24 h): broken header"),
])
def test_probe_bad_inputs_have_one_clear_line(files, key, expected):
    with pytest.raises(MediaError) as exc:
        probe(files[key])
    msg = str(exc.value)
    assert msg == expected
    assert "\n" not in msg and "0x" not in msg and "Traceback" not in msg
    assert exc.value.path == files[key]


def test_decoders_refuse_bad_inputs_too(files):
    with pytest.raises(MediaError, match="file is empty"):
        decode_audio(files["empty"])
    with pytest.raises(MediaError, match="moov atom not found"):
        list(iter_frames(files["trunc_end"], fps=1))
    with pytest.raises(MediaError, match="not a media file"):
        packet_times(files["text"])


def test_ffmpeg_log_lines_are_cleaned():
    p = Path("/data/x.mp4")
    level, msg = media._clean_line(f"[h264 @ 0x55d1c0a0] [error] Invalid NAL unit size (592 > 428).", p)
    assert (level, msg) == ("error", "h264: Invalid NAL unit size (592 > 428).")
    level, msg = media._clean_line(f"[error] file:{p}: Invalid data found when processing input", p)
    assert msg == "Invalid data found when processing input"
    assert media._last_meaningful(["mp3: Invalid frame size", "Invalid argument"]) == \
        "mp3: Invalid frame size (Invalid argument)"


# --------------------------------------------------------------------------- packets


def test_packet_times(files):
    v = packet_times(files["good"])
    assert len(v) == 75
    assert np.all(np.diff(v) > 0)
    assert v[0] == pytest.approx(0.0) and np.diff(v) == pytest.approx(0.04, abs=1e-6)
    a = packet_times(files["good"], "audio")
    assert len(a) > 10 and np.all(np.diff(a) > 0)
    assert a[-1] == pytest.approx(3.0, abs=0.15)
    assert keyframe_times(files["good"]) == pytest.approx([0.0, 1.0, 2.0])
    with pytest.raises(ValueError):
        packet_times(files["good"], "subtitle")


def test_times_are_relative_to_the_container_start(files):
    # MPEG-TS starts at 1.4 s; its video starts 2 s after its audio
    info = probe(files["delayed_ts"])
    assert info.start_time_s == pytest.approx(1.4, abs=0.01)
    assert info.video.start_s == pytest.approx(2.02, abs=0.05)
    assert packet_times(files["delayed_ts"])[0] == pytest.approx(info.video.start_s, abs=1e-3)
    keys = [t for t, _ in iter_frames(files["delayed_ts"], keyframes_only=True)]
    assert keys == pytest.approx(list(keyframe_times(files["delayed_ts"])), abs=1e-3)
    assert keys[0] == pytest.approx(2.02, abs=0.05)
    sampled = [t for t, _ in iter_frames(files["delayed_ts"], fps=2)]
    assert sampled[0] == pytest.approx(2.0) and sampled[-1] == pytest.approx(4.5)


# --------------------------------------------------------------------------- frames


def test_iter_frames_count_shape_and_times(files):
    reader = iter_frames(files["good"], fps=5)
    frames = list(reader)
    assert abs(len(frames) - 15) <= 1 and reader.frames_read == len(frames)
    assert reader.errors == [] and reader.returncode == 0
    times = [t for t, _ in frames]
    assert times == pytest.approx([i / 5 for i in range(len(frames))])
    for _, fr in frames:
        assert fr.shape == (240, 320, 3) and fr.dtype == np.uint8 and fr.flags.writeable
    assert frames[0][1].mean() > 20  # testsrc is colourful, not black


def test_iter_frames_downscale_and_keyframes(files):
    small = list(iter_frames(files["good"], fps=2, max_width=160))
    assert len(small) == 6 and all(fr.shape == (120, 160, 3) for _, fr in small)
    big = list(iter_frames(files["good"], fps=1, max_width=4000))  # never upscales
    assert big[0][1].shape == (240, 320, 3)
    keys = list(iter_frames(files["good"], keyframes_only=True, max_width=160))
    assert [t for t, _ in keys] == pytest.approx([0.0, 1.0, 2.0])
    with pytest.raises(ValueError):
        iter_frames(files["good"])  # neither fps nor keyframes_only
    with pytest.raises(ValueError):
        iter_frames(files["good"], fps=2, keyframes_only=True)


def test_iter_frames_window(files):
    win = [t for t, _ in iter_frames(files["good"], fps=4, start_s=1.0, duration_s=1.0)]
    assert win == pytest.approx([1.0, 1.25, 1.5, 1.75])
    assert list(iter_frames(files["good"], fps=4, start_s=30.0)) == []
    neg = [t for t, _ in iter_frames(files["good"], fps=2, start_s=-5.0, duration_s=6.0)]
    assert neg == pytest.approx([0.0, 0.5])
    keys = [t for t, _ in iter_frames(files["good"], keyframes_only=True, start_s=0.5)]
    assert keys == pytest.approx([1.0, 2.0])


def test_iter_frames_stops_ffmpeg_when_abandoned(files):
    with iter_frames(files["good"], fps=25) as reader:
        for i, (t, _) in enumerate(reader):
            if i == 2:
                break
    assert reader._proc is None and reader.frames_read == 3
    # iterating again starts over
    assert len(list(reader)) == 75 and reader.returncode == 0


def test_truncated_faststart_decodes_partially(files):
    info = probe(files["trunc_fast"])  # the index is intact, so probe still succeeds
    assert info.duration_s == pytest.approx(3.0, abs=0.1)
    full = list(iter_frames(files["fast"], fps=5))
    reader = iter_frames(files["trunc_fast"], fps=5)
    part = list(reader)
    assert 0 < len(part) < len(full) - 3
    assert reader.errors, "truncation must be reported"
    assert any("partial file" in e or "Invalid" in e for e in reader.errors)
    assert all("\n" not in e and " @ 0x" not in e and "[error]" not in e for e in reader.errors)
    keys = iter_frames(files["trunc_fast"], keyframes_only=True)
    assert 0 < len(list(keys)) < 3 and keys.errors
    # fewer packets than the header promises
    assert len(packet_times(files["trunc_fast"])) < info.video.frame_count


# --------------------------------------------------------------------------- audio


def test_decode_audio_length_and_tone(files):
    x = decode_audio(files["good"])
    assert x.dtype == np.float32 and x.ndim == 1
    assert len(x) == pytest.approx(3 * SR, abs=0.05 * SR)
    assert np.abs(x).max() <= 1.0 and np.abs(x).max() > 0.05
    assert _dominant_hz(x) == pytest.approx(440, abs=5)
    y = decode_audio(files["wav"], sample_rate=8000)
    assert len(y) == 3 * 8000 and _dominant_hz(y, 8000) == pytest.approx(440, abs=5)


def test_decode_audio_channel_selection(files):
    left = decode_audio(files["stereo"], channel=0)
    right = decode_audio(files["stereo"], channel=1)
    mixed = decode_audio(files["stereo"])
    assert len(left) == len(right) == len(mixed) == 3 * SR
    assert _dominant_hz(left) == pytest.approx(440, abs=5)
    assert _dominant_hz(right) == pytest.approx(1000, abs=5)
    assert _band_energy(left, 1000) < 1e-3 * _band_energy(left, 440)
    assert _band_energy(right, 440) < 1e-3 * _band_energy(right, 1000)
    assert _band_energy(mixed, 440) > 0.1 * _band_energy(mixed, 1000) > 0
    assert np.allclose(mixed, (left + right) / 2, atol=1e-3)  # plain average
    with pytest.raises(MediaError, match="channel 2 was requested"):
        decode_audio(files["stereo"], channel=2)
    with pytest.raises(MediaError, match="channel 1 was requested"):
        decode_audio(files["wav"], channel=1)


def test_decode_audio_windows(files):
    full = decode_audio(files["wav"])
    chunk = decode_audio(files["wav"], start_s=1.0, duration_s=0.5)
    assert len(chunk) == SR // 2
    assert np.allclose(chunk, full[SR:SR + SR // 2], atol=1e-4)
    late = decode_audio(files["wav"], start_s=2.5)
    assert len(late) == SR // 2 and np.allclose(late, full[-SR // 2:], atol=1e-4)
    # negative start: leading silence keeps sample i at start_s + i / sr
    lead = decode_audio(files["wav"], start_s=-0.5, duration_s=1.0)
    assert len(lead) == SR
    assert not lead[: SR // 2].any()
    assert np.allclose(lead[SR // 2:], full[: SR // 2], atol=1e-4)
    assert len(decode_audio(files["wav"], start_s=-2.0, duration_s=1.0)) == SR  # all silence
    assert len(decode_audio(files["wav"], start_s=60.0)) == 0
    assert len(decode_audio(files["wav"], start_s=1.0, duration_s=0.0)) == 0
    tail = decode_audio(files["wav"], start_s=2.0, duration_s=5.0)  # cut at the end
    assert len(tail) == SR


def test_decode_audio_keeps_the_container_timeline(files):
    # the audio stream starts 1 s after the video: that second comes back as silence
    x = decode_audio(files["audio_late"])
    assert len(x) == pytest.approx(4 * SR, abs=0.05 * SR)
    assert np.abs(x[: int(0.9 * SR)]).max() < 1e-3
    rms = float(np.sqrt(np.mean(x[int(1.2 * SR): int(3.5 * SR)] ** 2)))
    assert rms == pytest.approx(0.125 / np.sqrt(2), rel=0.1)  # the lavfi sine, amplitude 1/8
    late_start = decode_audio(files["audio_late"], start_s=0.5, duration_s=1.0)
    assert np.abs(late_start[: int(0.4 * SR)]).max() < 1e-3
    assert np.abs(late_start[int(0.7 * SR):]).max() > 0.05


def test_decode_audio_truncated_file_returns_what_is_there(files):
    x = decode_audio(files["trunc_fast"])
    assert 0 < len(x) < 2.5 * SR
