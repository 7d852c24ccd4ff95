"""The media layer: probing, packet timing, frame sampling and audio decoding.

Everything goes through ``ffprobe`` / ``ffmpeg`` subprocesses (never OpenCV seeking).
Errors surface as :class:`MediaError` with a one-line message that names the file and
the problem; ffmpeg's multi-line output is reduced to its last meaningful line.

Times
    All times returned by this module are seconds relative to the start of the
    container (ffprobe's ``format.start_time``): for most files that start is 0, MPEG-TS
    files often start at 1.4 s. A stream that starts late keeps its offset (a video that
    starts 2 s after the audio has its first frame at 2.0), so audio and video times
    can be compared directly. ffmpeg 5.1 re-bases an MPEG-TS file on the only stream
    it decodes when the others are unused, so the decoders also map the other streams
    into a stream-copy ``null`` output (cheap: demux only).

Frame sampling (:func:`iter_frames`)
    ``ffmpeg -vf fps=F,scale=...,showinfo -f rawvideo -pix_fmt bgr24 pipe:``. The
    ``showinfo`` filter (last in the chain) prints one line per output frame with its
    real timestamp and size; a stderr-reader thread hands it to the iterator, which
    then reads exactly that frame's bytes from stdout. That gives exact times in both
    modes (sampled and keyframes only), follows autorotation and resolution changes,
    and streams with bounded memory. ffmpeg runs at log level ``info`` for
    ``showinfo``; every line is tagged with its level (``-loglevel level+info``), so
    decode errors are still told apart from chatter.

Windows (``start_s``/``duration_s``)
    ffmpeg seeks (input ``-ss``) to ``PREROLL_S`` before the start, because the MPEG-TS
    demuxer can land after the target; frames/samples before the start are dropped
    here by timestamp, and the end is enforced here too (input ``-t`` is not exact).
"""

from __future__ import annotations

import json
import math
import os
import queue
import re
import subprocess
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Literal

import numpy as np

__all__ = [
    "MediaError",
    "VideoStream",
    "AudioStream",
    "MediaInfo",
    "FrameReader",
    "probe",
    "packet_times",
    "keyframe_times",
    "iter_frames",
    "decode_audio",
    "MAX_DURATION_S",
]

FFMPEG = "ffmpeg"
FFPROBE = "ffprobe"

#: A duration above this (seconds) is treated as nonsense from a corrupt header.
MAX_DURATION_S = 24 * 3600.0

PROBE_TIMEOUT_S = 120.0
PACKETS_TIMEOUT_S = 900.0
DECODE_TIMEOUT_S = 3600.0

#: At most this many error lines are kept per decode (a badly broken file can print
#: one per packet); the rest are counted.
MAX_ERROR_LINES = 100


class MediaError(Exception):
    """A media file cannot be used. ``str(err)`` is one human line: ``"<file>: <problem>"``."""

    def __init__(self, path: str | os.PathLike | None, problem: str):
        self.path = None if path is None else Path(path)
        self.problem = problem
        name = self.path.name if self.path is not None and self.path.name else str(path)
        super().__init__(f"{name}: {problem}" if path is not None else problem)


@dataclass
class VideoStream:
    index: int
    codec: str
    width: int
    height: int
    fps: float  # average frame rate; 0.0 if the file does not say
    duration_s: float
    frame_count: int | None
    start_s: float = 0.0  # stream start relative to the container start
    rotation: int = 0  # display rotation in degrees (ffmpeg autorotates decoded frames)


@dataclass
class AudioStream:
    index: int
    codec: str
    sample_rate: int
    channels: int
    duration_s: float
    start_s: float = 0.0  # stream start relative to the container start


@dataclass
class MediaInfo:
    path: Path
    format_name: str
    duration_s: float
    size_bytes: int
    video: VideoStream | None
    audio: AudioStream | None
    start_time_s: float = 0.0  # container start time as stored (subtracted everywhere)


# --------------------------------------------------------------------------- helpers

_PREFIX_RE = re.compile(r"^\[([^\]]*?) @ 0x[0-9a-fA-F]+\]\s*")
_LEVEL_RE = re.compile(r"^\[(panic|fatal|error|warning|info|verbose|debug|trace)\]\s*")
_GENERIC = {
    "Invalid data found when processing input",
    "Invalid argument",
    "Operation not permitted",
    "End of file",
    "Conversion failed!",
    "Error opening input files: Invalid data found when processing input",
}
_ISOBMFF_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot", b"uuid"}


def _src(path: Path) -> str:
    """ffmpeg input URL: the ``file:`` protocol so names like ``http:x`` or ``-y`` are safe."""
    return "file:" + str(path.absolute())


def _clean_line(line: str, path: Path | None = None) -> tuple[str | None, str]:
    """Split an ffmpeg log line into (level, message without address/level tag/path)."""
    line = line.strip()
    level = None
    component = None
    m = _PREFIX_RE.match(line)
    if m:
        component = m.group(1)
        line = line[m.end():]
    m = _LEVEL_RE.match(line)
    if m:
        level = m.group(1)
        line = line[m.end():]
    if path is not None:
        line = line.replace(_src(path), path.name)
        if line.startswith(path.name + ": "):
            line = line[len(path.name) + 2:]
    if component and component not in ("NULL", "AVIOContext", "in", "out") and line:
        # keep the component as a hint ("h264: Invalid NAL unit size"); demuxer lists
        # like "mov,mp4,m4a,3gp,3g2,mj2" are cut to their first name
        line = f"{component.split(',')[0]}: {line}"
    return level, line


def _meaningful_lines(stderr: str, path: Path | None) -> list[str]:
    out = []
    for raw in stderr.splitlines():
        level, msg = _clean_line(raw, path)
        if not msg or level in ("info", "verbose", "debug", "trace"):
            continue
        out.append(msg)
    return out


def _last_meaningful(lines: list[str]) -> str:
    """The last line that says something specific (generic errno strings lose to a
    specific line just before them)."""
    if not lines:
        return "unknown error"
    last = lines[-1]
    bare = last.split(": ", 1)[-1] if ": " in last else last
    if (last in _GENERIC or bare in _GENERIC) and len(lines) > 1:
        prev = lines[-2]
        if prev not in _GENERIC:
            return f"{prev} ({bare})"
    return last


def _signature(path: Path) -> str | None:
    """A known media container signature at the start of the file, if any."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return None
    if len(head) >= 8 and head[4:8] in _ISOBMFF_BOXES:
        return "mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"
    if head.startswith(b"RIFF") or head.startswith(b"RF64"):
        return "riff"
    if head.startswith(b"FLV") or head.startswith(b"fLaC") or head.startswith(b"ID3") \
            or head.startswith(b"OggS") or head.startswith(b"\x30\x26\xb2\x75"):
        return "media"
    return None


def _check_file(path: str | os.PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise MediaError(p, "file not found")
    if p.is_dir():
        raise MediaError(p, "is a directory, not a media file")
    if not p.is_file():
        raise MediaError(p, "not a regular file")
    try:
        size = p.stat().st_size
        with open(p, "rb") as f:
            f.read(1)
    except PermissionError:
        raise MediaError(p, "cannot be read (permission denied)") from None
    except OSError as e:
        raise MediaError(p, f"cannot be read ({e.strerror or e})") from None
    if size == 0:
        raise MediaError(p, "file is empty")
    return p


def _open_failure(p: Path, stderr: str, tool: str) -> MediaError:
    lines = _meaningful_lines(stderr, p)
    text = " ".join(lines)
    sig = _signature(p)
    if "Permission denied" in text:
        return MediaError(p, "cannot be read (permission denied)")
    if "moov atom not found" in text and sig == "mp4":
        return MediaError(p, "truncated or corrupt: moov atom not found")
    last = _last_meaningful(lines)
    if sig is not None:
        return MediaError(p, f"truncated or corrupt ({tool}: {last})")
    if "Invalid data found when processing input" in text:
        return MediaError(p, f"not a media file ({tool}: Invalid data found when processing input)")
    if "Invalid argument" in text:
        return MediaError(p, f"not a media file ({tool}: {last})")
    return MediaError(p, f"cannot be read ({tool}: {last})")


def _run(args: list[str], p: Path, timeout: float) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(args, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise MediaError(p, f"{Path(args[0]).name} did not finish within {timeout:.0f} s") from None
    except FileNotFoundError:
        raise MediaError(None, f"{args[0]} is not installed (needed to read media)") from None


def _num(value) -> float | None:
    """ffprobe number-ish field → finite float or None."""
    if value is None:
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _rate(value) -> float | None:
    if not value or not isinstance(value, str):
        return None
    try:
        num, _, den = value.partition("/")
        r = float(num) / float(den or 1)
    except (ValueError, ZeroDivisionError):
        return None
    return r if math.isfinite(r) and 0 < r <= 1000 else None


def _sane_duration(x: float | None) -> bool:
    return x is not None and 0 < x <= MAX_DURATION_S


def _rotation(stream: dict) -> int:
    rot = None
    for sd in stream.get("side_data_list") or []:
        if "rotation" in sd:
            rot = _num(sd.get("rotation"))
    if rot is None:
        rot = _num((stream.get("tags") or {}).get("rotate"))
    if rot is None:
        return 0
    return int(round(rot)) % 360


# --------------------------------------------------------------------------- probe


def probe(path: str | os.PathLike) -> MediaInfo:
    """Describe a media file: container, duration, first video and first audio stream.

    Does not require any particular stream (a wav has only audio); callers decide.
    Raises :class:`MediaError` for a missing, empty, unreadable or non-media file, a
    directory, a file with neither audio nor video, or nonsense durations.
    """
    p = _check_file(path)
    proc = _run(
        [FFPROBE, "-hide_banner", "-loglevel", "repeat+level+error",
         "-show_format", "-show_streams", "-of", "json", _src(p)],
        p, PROBE_TIMEOUT_S,
    )
    stderr = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        raise _open_failure(p, stderr, "ffprobe")
    try:
        data = json.loads(proc.stdout.decode("utf-8", "replace") or "{}")
    except json.JSONDecodeError:
        raise MediaError(p, "ffprobe printed unreadable output") from None
    fmt = data.get("format") or {}
    streams = data.get("streams") or []
    if not fmt and not streams:
        raise _open_failure(p, stderr, "ffprobe")

    start_time = _num(fmt.get("start_time"))
    if start_time is None:
        starts = [_num(s.get("start_time")) for s in streams]
        starts = [s for s in starts if s is not None]
        start_time = min(starts) if starts else 0.0

    vstream = next(
        (s for s in streams if s.get("codec_type") == "video"
         and not (s.get("disposition") or {}).get("attached_pic")),
        None,
    )
    astream = next((s for s in streams if s.get("codec_type") == "audio"), None)
    if vstream is None and astream is None:
        raise MediaError(p, "no audio or video stream")

    fmt_dur = _num(fmt.get("duration"))
    stream_durs = [_num(s.get("duration")) for s in (vstream, astream) if s is not None]
    stream_durs = [d for d in stream_durs if _sane_duration(d)]
    if fmt_dur is None:
        if not stream_durs:
            raise MediaError(p, "has no duration (not a recording, or the header is broken)")
        fmt_dur = max(stream_durs)
    if fmt_dur <= 0:
        raise MediaError(p, f"nonsense duration {fmt_dur:g} s (empty or broken header)")
    if fmt_dur > MAX_DURATION_S:
        raise MediaError(p, f"nonsense duration {fmt_dur:.0f} s (over {MAX_DURATION_S / 3600:.0f} h): "
                            "broken header")

    def stream_duration(s: dict) -> float:
        d = _num(s.get("duration"))
        return d if _sane_duration(d) else fmt_dur

    def stream_start(s: dict) -> float:
        st = _num(s.get("start_time"))
        if st is None or abs(st - start_time) < 1e-5:
            return 0.0
        return round(st - start_time, 6)

    video = None
    if vstream is not None:
        width, height = int(vstream.get("width") or 0), int(vstream.get("height") or 0)
        if width <= 0 or height <= 0:
            raise MediaError(p, "video stream has no picture size (broken header)")
        fps = _rate(vstream.get("avg_frame_rate")) or _rate(vstream.get("r_frame_rate")) or 0.0
        nb = vstream.get("nb_frames")
        try:
            frame_count = int(nb) if nb not in (None, "N/A") and int(nb) > 0 else None
        except (TypeError, ValueError):
            frame_count = None
        video = VideoStream(
            index=int(vstream["index"]), codec=str(vstream.get("codec_name") or "unknown"),
            width=width, height=height, fps=float(fps), duration_s=stream_duration(vstream),
            frame_count=frame_count, start_s=stream_start(vstream), rotation=_rotation(vstream),
        )
    audio = None
    if astream is not None:
        audio = AudioStream(
            index=int(astream["index"]), codec=str(astream.get("codec_name") or "unknown"),
            sample_rate=int(_num(astream.get("sample_rate")) or 0),
            channels=int(astream.get("channels") or 0),
            duration_s=stream_duration(astream), start_s=stream_start(astream),
        )
    return MediaInfo(
        path=p, format_name=str(fmt.get("format_name") or "unknown"), duration_s=float(fmt_dur),
        size_bytes=p.stat().st_size, video=video, audio=audio, start_time_s=float(start_time),
    )


def _stream(info: MediaInfo, kind: str):
    if kind not in ("video", "audio"):
        raise ValueError(f"kind must be 'video' or 'audio', got {kind!r}")
    s = info.video if kind == "video" else info.audio
    if s is None:
        raise MediaError(info.path, f"no {kind} stream")
    return s


# --------------------------------------------------------------------------- packets


def _packets(path, kind: str, info: MediaInfo | None) -> tuple[np.ndarray, np.ndarray]:
    info = info or probe(path)
    p = info.path
    s = _stream(info, kind)
    proc = _run(
        [FFPROBE, "-hide_banner", "-loglevel", "repeat+level+error", "-select_streams", str(s.index),
         "-show_entries", "packet=pts_time,dts_time,flags", "-of", "csv=p=0", _src(p)],
        p, PACKETS_TIMEOUT_S,
    )
    if proc.returncode != 0:
        raise _open_failure(p, proc.stderr.decode("utf-8", "replace"), "ffprobe")
    times: list[float] = []
    keys: list[bool] = []
    for line in proc.stdout.decode("ascii", "replace").splitlines():
        parts = line.strip().split(",")
        if len(parts) < 2:
            continue
        t = _num(parts[0])
        if t is None:
            t = _num(parts[1])
        if t is None:
            continue
        times.append(t)
        keys.append(len(parts) > 2 and "K" in parts[2])
    arr = np.asarray(times, dtype=np.float64) - info.start_time_s
    return arr, np.asarray(keys, dtype=bool)


def packet_times(path: str | os.PathLike, kind: Literal["video", "audio"] = "video", *,
                 sort: bool = True, info: MediaInfo | None = None) -> np.ndarray:
    """Presentation times (s, container start = 0) of every packet of the first video or
    audio stream. Demux only, no decoding: fast even for long files.

    ``sort=True`` returns them in presentation order (B-frames make decode order
    non-monotonic); ``sort=False`` keeps decode order, which shows timestamp jumps
    backwards. Packets without any timestamp are skipped.
    """
    times, _ = _packets(path, kind, info)
    return np.sort(times) if sort else times


def keyframe_times(path: str | os.PathLike, *, info: MediaInfo | None = None) -> np.ndarray:
    """Sorted presentation times (s) of the video keyframes, from packet flags (demux only)."""
    times, keys = _packets(path, "video", info)
    return np.sort(times[keys])


# --------------------------------------------------------------------------- frames

_SHOWINFO_RE = re.compile(
    r"^\[Parsed_showinfo_\d+ @ [^\]]+\]\s*\[info\]\s*n:\s*(\d+)\s+pts:\s*(-?\d+|NOPTS)\s+"
    r"pts_time:(\S+).*?\bs:(\d+)x(\d+)"
)

#: Seconds decoded before a requested start: some demuxers (MPEG-TS) seek past the
#: target; the extra frames/samples are dropped here, by timestamp.
PREROLL_S = 3.0


def _companion_output(streams: str, duration: float | None) -> list[str]:
    """A second output that stream-copies the other streams into the null muxer.

    Without it, ffmpeg 5.1 re-bases an MPEG-TS file's timestamps on the one mapped
    stream (a video starting 2 s after the audio would come out starting at 0).
    """
    args = ["-map", streams, "-c", "copy"]
    if duration is not None:
        args += ["-t", f"{duration:.6f}"]
    return args + ["-f", "null", "-"]


class FrameReader:
    """Iterable of ``(t_seconds, frame_bgr)`` from an ffmpeg pipe; see :func:`iter_frames`.

    After iteration: ``frames_read``, ``errors`` (decode errors ffmpeg printed, e.g. for
    a truncated file), ``warnings``, ``returncode``. Iterating again re-runs ffmpeg.
    Use as a context manager (or call :meth:`close`) when you stop early.
    """

    def __init__(self, path: str | os.PathLike, fps: float | None = None, max_width: int | None = None,
                 *, keyframes_only: bool = False, start_s: float = 0.0,
                 duration_s: float | None = None, info: MediaInfo | None = None):
        if keyframes_only and fps is not None:
            raise ValueError("give either fps or keyframes_only=True, not both")
        if not keyframes_only:
            if fps is None or isinstance(fps, bool) or not isinstance(fps, (int, float)) \
                    or not math.isfinite(fps) or not 0 < fps <= 1000:
                raise ValueError(f"fps must be a number in (0, 1000], got {fps!r}")
        if max_width is not None and (isinstance(max_width, bool) or not isinstance(max_width, int)
                                      or max_width < 2):
            raise ValueError(f"max_width must be an integer >= 2, got {max_width!r}")
        if isinstance(start_s, bool) or not isinstance(start_s, (int, float)) or not math.isfinite(start_s):
            raise ValueError(f"start_s must be a finite number, got {start_s!r}")
        if duration_s is not None and (isinstance(duration_s, bool) or not isinstance(duration_s, (int, float))
                                       or not math.isfinite(duration_s) or duration_s < 0):
            raise ValueError(f"duration_s must be a number >= 0, got {duration_s!r}")
        self.path = Path(path)
        self.fps = None if fps is None else float(fps)
        self.max_width = max_width
        self.keyframes_only = keyframes_only
        # window [start, end) in seconds from the container start; negative start → 0
        self.start_s = max(0.0, float(start_s))
        self.end_s = math.inf if duration_s is None else float(start_s) + float(duration_s)
        self.info = info
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.frames_read = 0
        self.returncode: int | None = None
        self._proc: subprocess.Popen | None = None
        self._dropped_errors = 0

    # -- command
    def _seek_point(self) -> float:
        if self.start_s <= 0:
            return 0.0
        preroll = PREROLL_S
        if self.fps:  # keep the sampling grid on start_s
            preroll = math.ceil(PREROLL_S * self.fps) / self.fps
        return max(0.0, self.start_s - preroll)

    def command(self, info: MediaInfo) -> list[str]:
        """The ffmpeg command line (for logs and tests)."""
        v = _stream(info, "video")
        filters = []
        if self.fps is not None:
            fr = Fraction(self.fps).limit_denominator(10000)
            filters.append(f"fps=fps={fr.numerator}/{fr.denominator}")
        if self.max_width is not None:
            filters.append(f"scale=w='min(iw,{self.max_width})':h=-2:flags=area")
        filters.append("showinfo=checksum=0")
        seek = self._seek_point()
        args = [FFMPEG, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "repeat+level+info"]
        if self.keyframes_only:
            args += ["-skip_frame", "nokey"]
        if seek > 0:
            args += ["-ss", f"{seek:.6f}"]
        args += ["-i", _src(info.path), "-map", f"0:{v.index}", "-an", "-sn", "-dn",
                 "-vf", ",".join(filters), "-fps_mode", "passthrough",
                 "-f", "rawvideo", "-pix_fmt", "bgr24", "pipe:1"]
        if info.audio is not None:
            window = None if math.isinf(self.end_s) else self.end_s - seek + 1.0
            args += _companion_output("0:a", window)
        return args

    # -- stderr
    def _read_stderr(self, stream, q: queue.Queue, path: Path) -> None:
        try:
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                m = _SHOWINFO_RE.match(line)
                if m:
                    q.put((_num(m.group(3)), int(m.group(4)), int(m.group(5))))
                    continue
                level, msg = _clean_line(line, path)
                if not msg:
                    continue
                if level in ("error", "fatal", "panic"):
                    if len(self.errors) < MAX_ERROR_LINES:
                        self.errors.append(msg)
                    else:
                        self._dropped_errors += 1
                elif level == "warning" and len(self.warnings) < MAX_ERROR_LINES:
                    self.warnings.append(msg)
        finally:
            q.put(None)

    def __iter__(self) -> Iterator[tuple[float, np.ndarray]]:
        return self._generate()

    def _generate(self) -> Iterator[tuple[float, np.ndarray]]:
        self.close()
        self.errors, self.warnings, self.frames_read, self.returncode = [], [], 0, None
        self._dropped_errors = 0
        info = self.info or probe(self.path)
        _stream(info, "video")
        if self.end_s <= self.start_s or self.start_s >= info.duration_s + 1.0:
            self.returncode = 0
            return
        seek = self._seek_point()
        try:
            proc = subprocess.Popen(self.command(info), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, bufsize=0)
        except FileNotFoundError:
            raise MediaError(None, f"{FFMPEG} is not installed (needed to read media)") from None
        self._proc = proc
        q: queue.Queue = queue.Queue()
        reader = threading.Thread(target=self._read_stderr, args=(proc.stderr, q, info.path), daemon=True)
        reader.start()
        state = "running"  # → "eof" (ffmpeg finished), "window" (past end_s), "abandoned"
        last_t = None
        try:
            while True:
                item = q.get()
                if item is None:
                    state = "eof"
                    break
                pts_time, w, h = item
                frame = np.empty((h, w, 3), dtype=np.uint8)
                if not _read_exact(proc.stdout, memoryview(frame).cast("B")):
                    self.errors.append("ffmpeg stopped in the middle of a frame")
                    state = "eof"
                    break
                if pts_time is None:  # no timestamp: continue the sampling grid
                    step = (1.0 / self.fps) if self.fps else 0.0
                    ts = seek if last_t is None else last_t + step
                else:
                    ts = seek + pts_time
                ts = round(ts, 6)
                last_t = ts
                if ts < self.start_s - 1e-6:
                    continue
                if ts >= self.end_s - 1e-6:
                    state = "window"
                    break
                self.frames_read += 1
                yield ts, frame
        finally:
            self._finish(proc, reader, kill=state != "eof")
            if state == "window":
                self.returncode = 0
            elif state != "eof":
                self.returncode = None  # stopped early by the consumer
        if self._dropped_errors:
            self.errors.append(f"... and {self._dropped_errors} more error lines")
        if self.frames_read == 0 and self.returncode not in (0, None):
            what = _last_meaningful(self.errors) if self.errors else f"exit status {self.returncode}"
            raise MediaError(info.path, f"video cannot be decoded (ffmpeg: {what})")

    def _finish(self, proc: subprocess.Popen, reader: threading.Thread, kill: bool) -> None:
        if kill and proc.poll() is None:
            proc.kill()
        try:
            proc.stdout.close()
        except OSError:
            pass
        try:
            self.returncode = proc.wait(timeout=DECODE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            self.returncode = proc.wait()
        reader.join(timeout=10)
        try:
            proc.stderr.close()
        except OSError:
            pass
        self._proc = None

    def close(self) -> None:
        """Stop a running ffmpeg (safe to call any time)."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def __enter__(self) -> "FrameReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _read_exact(stream, view: memoryview) -> bool:
    got = 0
    n = len(view)
    while got < n:
        k = stream.readinto(view[got:])
        if not k:
            return False
        got += k
    return True


def iter_frames(path: str | os.PathLike, fps: float | None = None, max_width: int | None = None, *,
                keyframes_only: bool = False, start_s: float = 0.0, duration_s: float | None = None,
                info: MediaInfo | None = None) -> FrameReader:
    """Sampled video frames as ``(t_seconds, frame_bgr uint8 HxWx3)``, streamed.

    ``fps``: sampling rate (ffmpeg ``fps`` filter; ffmpeg still decodes every frame).
    ``keyframes_only=True`` instead decodes only keyframes (``-skip_frame nokey``, the
    fast path) and gives their real timestamps. ``max_width`` downscales (never
    upscales) keeping the aspect ratio. ``start_s``/``duration_s`` select the window
    ``[start_s, start_s + duration_s)`` (negative start counts from 0; a start beyond the
    end yields nothing). Times are seconds from the container start; in fps mode they
    lie on the grid ``k / fps``. The returned :class:`FrameReader` exposes ``errors`` and
    ``frames_read`` after iteration, and raises :class:`MediaError` (when iterated) for
    a file without video or when nothing at all could be decoded and ffmpeg failed.
    """
    return FrameReader(path, fps, max_width, keyframes_only=keyframes_only, start_s=start_s,
                       duration_s=duration_s, info=info)


# --------------------------------------------------------------------------- audio


def decode_audio(path: str | os.PathLike, sample_rate: int = 16000, channel: int | None = None,
                 start_s: float = 0.0, duration_s: float | None = None, *,
                 info: MediaInfo | None = None) -> np.ndarray:
    """Decode the first audio stream to float32 mono samples in [-1, 1].

    ``channel=None`` downmixes all channels; ``channel=k`` takes only channel k (two
    microphone stereo: staff on 0, customer on 1). ``start_s``/``duration_s`` select a
    window for chunked decoding. Sample i is at time ``start_s + i / sample_rate`` on
    the container timeline: a negative ``start_s``, an audio stream that starts late
    and gaps inside it are filled with silence; a start beyond the end gives an empty
    array, and the result is cut short at the end of the stream. Raises
    :class:`MediaError` for no audio stream, a missing channel or a failed decode.
    """
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or not 1000 <= sample_rate <= 384000:
        raise ValueError(f"sample_rate must be an integer in 1000..384000, got {sample_rate!r}")
    if isinstance(start_s, bool) or not isinstance(start_s, (int, float)) or not math.isfinite(start_s):
        raise ValueError(f"start_s must be a finite number, got {start_s!r}")
    if duration_s is not None and (isinstance(duration_s, bool) or not isinstance(duration_s, (int, float))
                                   or not math.isfinite(duration_s) or duration_s < 0):
        raise ValueError(f"duration_s must be a number >= 0, got {duration_s!r}")
    if channel is not None and (isinstance(channel, bool) or not isinstance(channel, int) or channel < 0):
        raise ValueError(f"channel must be a non-negative integer or None, got {channel!r}")
    info = info or probe(path)
    p = info.path
    a = _stream(info, "audio")
    if channel is not None and channel >= a.channels:
        raise MediaError(p, f"audio has {a.channels} channel(s); channel {channel} was requested")

    start = float(start_s)
    want = None if duration_s is None else int(round(float(duration_s) * sample_rate))
    lead = 0  # samples of silence before the container start (negative start_s)
    if start < 0:
        lead = int(round(-start * sample_rate))
        start = 0.0
        if want is not None:
            lead = min(lead, want)
    if want is not None and want - lead <= 0:
        return np.zeros(max(want or 0, 0), dtype=np.float32)
    if start >= info.duration_s + 1.0:
        return np.zeros(lead, dtype=np.float32)

    seek = max(0.0, start - PREROLL_S) if start > 0 else 0.0
    drop = int(round((start - seek) * sample_rate))  # preroll samples to discard
    wanted_s = None if want is None else (want - lead) / sample_rate
    if channel is not None:
        filters = [f"pan=mono|c0=c{channel}"]
    elif 1 < a.channels <= 8:  # plain average: no clipping when both microphones are loud
        filters = ["pan=mono|c0=" + "+".join(f"{1 / a.channels:.6g}*c{k}" for k in range(a.channels))]
    else:
        filters = []  # mono, or many channels: ffmpeg's own downmix (-ac 1)
    downmix_by_ffmpeg = not filters
    # align to the timeline: pad a late start and gaps with silence (sample i ↔ seek + i/sr)
    filters.append(f"aresample={sample_rate}:async=1:first_pts=0")
    args = [FFMPEG, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "repeat+level+error"]
    if seek > 0:
        args += ["-ss", f"{seek:.6f}"]
    args += ["-i", _src(p), "-map", f"0:{a.index}", "-vn", "-sn", "-dn", "-af", ",".join(filters)]
    if downmix_by_ffmpeg:
        args += ["-ac", "1"]
    window = None if wanted_s is None else (start - seek) + wanted_s + 0.1
    if window is not None:
        args += ["-t", f"{window:.6f}"]
    args += ["-ar", str(sample_rate), "-f", "f32le", "-acodec", "pcm_f32le", "pipe:1"]
    if info.video is not None:
        args += _companion_output(f"0:{info.video.index}", window)
    proc = _run(args, p, DECODE_TIMEOUT_S)
    if proc.returncode != 0:
        lines = _meaningful_lines(proc.stderr.decode("utf-8", "replace"), p)
        raise MediaError(p, f"audio cannot be decoded (ffmpeg: {_last_meaningful(lines)})")
    raw = proc.stdout
    samples = np.frombuffer(raw, dtype="<f4", count=len(raw) // 4)[drop:]
    if want is not None:
        samples = samples[: want - lead]
    out = np.empty(lead + len(samples), dtype=np.float32)
    out[:lead] = 0.0
    np.clip(np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0), -1.0, 1.0, out=out[lead:])
    return out
