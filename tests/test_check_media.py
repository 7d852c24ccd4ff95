"""media.continuity and media.quality: edges on synthetic inputs, then real files."""
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from verifier.checks import Context, media_continuity, media_quality
from verifier.faces import FrameFaces
from verifier.media import AudioStream, MediaInfo, VideoStream, probe
from verifier.transcript import Segment

# --- media.continuity on packet times ---------------------------------------------------


def video_times(duration=60.0, fps=25.0, start=0.0):
    return start + np.arange(int(round(duration * fps))) / fps


def audio_times(duration=60.0, start=0.0, rate=16000, per_packet=1024):
    return start + np.arange(int(duration * rate / per_packet)) * per_packet / rate


def cont(settings, video, audio, **kw):
    ctx = Context(settings=settings, sidecar=None, ruleset=None)
    return media_continuity.assess(ctx, np.asarray(video), None if audio is None
                                   else np.asarray(audio), video_fps=25.0, **kw)


def test_continuous_recording_passes(settings):
    res = cont(settings, video_times(), audio_times())
    assert res.status == "pass" and res.evidence == []
    assert "no gaps" in res.message and res.severity == "critical"


def test_cut_in_video_fails_with_the_hole(settings):
    v = video_times(120.0)
    v = np.concatenate([v[v < 70.0], v[v >= 91.0]])    # 00:01:10 → 00:01:31
    res = cont(settings, v, audio_times(120.0))
    assert res.status == "fail"
    [ev] = res.evidence
    assert ev["detail"] == "video jumps 00:01:10 → 00:01:31: 21.0 s missing"
    assert ev["start_s"] == 70.0 and ev["end_s"] == 91.0 and ev["kind"] == "video_gap"
    assert "1 gap in the video timeline, longest 21.0 s at 00:01:10" in res.message


@pytest.mark.parametrize("missing, status", [(0.3, "pass"), (0.9, "review"), (1.9, "review"),
                                             (2.5, "fail")])
def test_gap_grades(settings, missing, status):
    v = video_times(30.0)
    v = np.concatenate([v[v < 10.0], v[v >= 10.0] + missing])
    assert cont(settings, v, None).status == status


def test_audio_gap_is_found_too(settings):
    a = audio_times(60.0)
    a = np.concatenate([a[a < 20.0], a[a >= 25.0]])
    res = cont(settings, video_times(), a)
    assert res.status == "fail"
    assert any(e["kind"] == "audio_gap" and 19.9 < e["start_s"] < 20.1 for e in res.evidence)


def test_gap_floor_follows_a_low_frame_rate(settings):
    # 5 fps: one dropped frame leaves a 0.2 s hole, three frames 0.6 s: normal jitter
    v = np.arange(0, 30, 0.2)
    v = np.concatenate([v[:50], v[53:]])
    ctx = Context(settings=settings, sidecar=None, ruleset=None)
    assert media_continuity.assess(ctx, v, None, video_fps=5.0).status == "pass"


def test_bframe_reordering_is_not_going_backwards(settings):
    v = video_times(20.0)
    decode = v.copy()
    for i in range(1, len(v) - 3, 4):  # I P B B order: pts step back a frame or two
        decode[i:i + 3] = v[i + 2], v[i], v[i + 1]
    assert cont(settings, decode, audio_times(20.0)).status == "pass"


def test_timestamps_going_back_fail(settings):
    v = np.concatenate([video_times(30.0), video_times(30.0, start=5.0)])
    a = np.concatenate([audio_times(30.0), audio_times(30.0, start=5.0)])
    res = cont(settings, v, a)
    assert res.status == "fail"
    assert "video timestamps go back from 00:00:30 to 00:00:05 (25.0 s)" in res.message
    assert {e["kind"] for e in res.evidence} == {"video_backwards", "audio_backwards"}


@pytest.mark.parametrize("short_by, status", [(0.5, "pass"), (1.5, "review"), (8.0, "fail")])
def test_audio_shorter_than_video(settings, short_by, status):
    res = cont(settings, video_times(60.0), audio_times(60.0 - short_by))
    assert res.status == status
    if status == "fail":
        assert f"audio ends {short_by:.1f} s before the video" in res.message
        [ev] = res.evidence
        assert ev["kind"] == "end_offset" and ev["end_s"] == 60.0


@pytest.mark.parametrize("late, status", [(0.2, "pass"), (1.0, "review"), (3.0, "fail")])
def test_audio_starting_late_in_the_container(settings, late, status):
    res = cont(settings, video_times(60.0), audio_times(60.0 - late, start=late))
    assert res.status == status
    if status != "pass":
        assert f"audio starts {late:.1f} s after the video" in res.message


def test_separate_audio_file_is_placed_by_its_offset(settings):
    # the audio file starts 2 s into the video, as the sidecar declares, and ends with it
    ok = cont(settings, video_times(60.0), audio_times(58.0), audio_offset_s=2.0,
              separate_audio=True)
    assert ok.status == "pass"
    short = cont(settings, video_times(60.0), audio_times(50.0), audio_offset_s=2.0,
                 separate_audio=True)
    assert short.status == "fail" and "audio ends 8.0 s before the video" in short.message
    assert "placed at +2.0 s" in short.message


def test_no_video_packets_is_an_error(settings):
    assert cont(settings, [], audio_times()).status == "error"


def test_unreadable_media_is_skipped(settings):
    ctx = Context(settings=settings, sidecar=None, ruleset=None, failed={"media": "x: broken"})
    assert media_continuity.run(ctx).status == "skipped"
    assert media_quality.run(ctx).status == "skipped"


# --- media.quality on synthetic observations --------------------------------------------

def info(width=1280, height=720, fps=25.0, duration=60.0):
    return MediaInfo(Path("x.mp4"), "mp4", duration, 1,
                     VideoStream(0, "h264", width, height, fps, duration, None),
                     AudioStream(1, "aac", 16000, 1, duration))


def frames(duration=60.0, fps=2.0, luma=120.0, dark=(), bright=()):
    out = []
    for i in range(int(duration * fps)):
        t = i / fps
        lv = 10.0 if any(a <= t < b for a, b in dark) else \
            245.0 if any(a <= t < b for a, b in bright) else luma
        out.append(FrameFaces(t=t, width=1280, faces=[], luma=lv))
    return out


def levels(duration=60, speech=-20.0, quiet=-60.0, silent=()):
    return [(float(s), quiet if any(a <= s < b for a, b in silent) else speech)
            for s in range(duration)]


def quality(settings, media=None, fr=None, lv=None, transcript=None, duration=60.0):
    ctx = Context(settings=settings, sidecar=None, ruleset=None, duration_s=duration,
                  media=media or info(duration=duration),
                  frames=frames(duration) if fr is None else fr,
                  audio_levels={"unknown": levels(int(duration))} if lv is None else lv,
                  transcript=transcript)
    return media_quality.run(ctx)


def test_good_recording_passes(settings):
    res = quality(settings)
    assert res.status == "pass" and res.evidence == [] and res.severity == "major"


@pytest.mark.parametrize("w, h, ok", [(640, 360, True), (360, 640, True), (480, 360, False),
                                      (320, 240, False)])
def test_resolution_floor_in_either_orientation(settings, w, h, ok):
    res = quality(settings, media=info(width=w, height=h))
    assert (res.status == "pass") == ok
    if not ok:
        assert f"resolution {w}x{h} below 640x360" in res.message


def test_low_frame_rate_fails(settings):
    res = quality(settings, media=info(fps=4.0))
    assert res.status == "fail" and "frame rate 4.0 fps below 5" in res.message
    assert quality(settings, media=info(fps=5.0)).status == "pass"


def test_dark_stretch_over_limit_fails_with_interval(settings):
    res = quality(settings, fr=frames(dark=[(10.0, 16.0)]))
    assert res.status == "fail" and "picture too dark for 6.0 s (00:00:10-00:00:16)" in res.message
    [ev] = res.evidence
    assert (ev["start_s"], ev["end_s"], ev["kind"]) == (10.0, 16.0, "too_dark")
    assert "mean frame brightness 10 < 35" in ev["detail"]


def test_short_dark_stretch_passes_but_is_listed(settings):
    res = quality(settings, fr=frames(dark=[(10.0, 12.0)]))
    assert res.status == "pass" and [e["kind"] for e in res.evidence] == ["too_dark"]


def test_overexposed_stretch_fails(settings):
    res = quality(settings, fr=frames(bright=[(30.0, 40.0)]))
    assert res.status == "fail" and "picture overexposed for 10.0 s" in res.message


def test_quiet_sound_fails(settings):
    res = quality(settings, lv={"unknown": levels(speech=-52.0, quiet=-70.0)})
    assert res.status == "fail" and "sound too quiet: loud seconds at -52 dBFS" in res.message
    assert quality(settings, lv={"unknown": levels(speech=-40.0)}).status == "pass"


def speech_at(*spans):
    return [Segment(a, b, "说话", "unknown") for a, b in spans]


def test_long_silence_during_the_sale_fails(settings):
    res = quality(settings, lv={"unknown": levels(120, silent=[(40, 80)])},
                  transcript=speech_at((2, 39), (81, 110)), duration=120.0,
                  fr=frames(120.0))
    assert res.status == "fail" and "silence for 40 s while the sale is on (00:00:40-00:01:20)" \
        in res.message
    [ev] = res.evidence
    assert (ev["start_s"], ev["end_s"], ev["kind"]) == (40.0, 80.0, "silence")


def test_silence_before_first_or_after_last_speech_is_not_counted(settings):
    res = quality(settings, lv={"unknown": levels(120, silent=[(0, 45), (75, 120)])},
                  transcript=speech_at((46, 74)), duration=120.0, fr=frames(120.0))
    assert res.status == "pass"


def test_silence_up_to_the_limit_passes(settings):
    res = quality(settings, lv={"unknown": levels(120, silent=[(40, 70)])},
                  transcript=speech_at((2, 39), (71, 110)), duration=120.0, fr=frames(120.0))
    assert res.status == "pass"


def test_one_live_microphone_is_not_silence(settings):
    lv = {"staff": levels(120, silent=[(40, 80)]), "customer": levels(120)}
    res = quality(settings, lv=lv, transcript=speech_at((2, 110)), duration=120.0,
                  fr=frames(120.0))
    assert res.status == "pass"


def test_missing_analyses_are_noted_not_failed(settings):
    ctx = Context(settings=settings, sidecar=None, ruleset=None, duration_s=60.0,
                  media=info(), unavailable={"transcript": "no audio stream"})
    res = media_quality.run(ctx)
    assert res.status == "pass"
    assert "loudness not assessed (no audio stream)" in res.message
    assert "brightness not assessed" in res.message


# --- real files -------------------------------------------------------------------------

def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-v", "error", "-y", *map(str, args)], check=True)


def segment_ts(out, seconds, ts_offset=0.0):
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x240:rate=10", "-f", "lavfi",
           "-i", "sine=frequency=440:sample_rate=16000", "-t", seconds, "-c:v", "libx264",
           "-preset", "ultrafast", "-g", "20", "-c:a", "aac", "-b:a", "32k",
           "-output_ts_offset", ts_offset, out)
    return out


def run_continuity(settings, media, audio_media=None, offset=0.0):
    ctx = Context(settings=settings, sidecar=SimpleNamespace(audio_offset_s=offset),
                  ruleset=None, media=probe(media),
                  audio_media=probe(audio_media) if audio_media else None)
    return media_continuity.run(ctx)


@pytest.fixture(scope="module")
def segments(tmp_path_factory):
    root = tmp_path_factory.mktemp("segments")
    return root, segment_ts(root / "a.ts", 10), segment_ts(root / "b.ts", 10, ts_offset=31)


def test_real_cut_two_segments_with_timestamp_jump(settings, segments):
    root, a, b = segments
    cut = root / "cut.ts"
    cut.write_bytes(a.read_bytes() + b.read_bytes())
    res = run_continuity(settings, cut)
    assert res.status == "fail"
    video = [e for e in res.evidence if e["kind"] == "video_gap"]
    assert len(video) == 1 and video[0]["detail"].startswith("video jumps 00:00:10 → 00:00:31")
    assert any(e["kind"] == "audio_gap" for e in res.evidence)
    assert run_continuity(settings, a).status == "pass"


def test_real_splice_going_back_in_time(settings, segments):
    root, a, _ = segments
    spliced = root / "again.ts"
    spliced.write_bytes(a.read_bytes() * 2)
    res = run_continuity(settings, spliced)
    assert res.status == "fail" and "video timestamps go back" in res.message


def test_real_audio_track_shorter_than_video(settings, tmp_path):
    media = tmp_path / "short-audio.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x240:rate=10", "-f", "lavfi",
           "-i", "sine=frequency=440:sample_rate=16000:duration=12", "-t", 20,
           "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", media)
    res = run_continuity(settings, media)
    assert res.status == "fail" and "audio ends 8.0 s before the video" in res.message
    [ev] = res.evidence
    assert abs(ev["start_s"] - 12.0) < 0.1 and ev["end_s"] == 20.0


def test_real_separate_audio_file_with_offset(settings, tmp_path):
    video, audio = tmp_path / "v.mp4", tmp_path / "v.wav"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x240:rate=10", "-t", 20, "-c:v", "libx264",
           "-preset", "ultrafast", video)
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000:duration=18", audio)
    assert run_continuity(settings, video, audio, offset=2.0).status == "pass"
    res = run_continuity(settings, video, audio, offset=0.0)
    assert res.status == "review" and "audio ends 2.0 s before the video" in res.message


def test_real_dark_and_silent_stretches(settings, detector, tmp_path):
    """A 45 s booth-less recording: lights out 5-12 s, sound gone 10-42 s between tones."""
    from verifier.asr import loudness_per_second
    from verifier.config import load_settings
    from verifier.engine import Analysers, analyse_video
    from verifier.media import decode_audio

    media = tmp_path / "dark-silent.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=640x360:rate=5", "-f", "lavfi",
           "-i", "sine=frequency=300:sample_rate=16000", "-t", 45,
           "-vf", "drawbox=x=0:y=0:w=iw:h=ih:color=black:t=fill:enable='between(t,5,12)'",
           "-af", "volume=enable='between(t,10,42)':volume=0",
           "-c:v", "libx264", "-preset", "ultrafast", "-g", "10", "-c:a", "aac", media)
    info_ = probe(media)
    video = analyse_video(info_, Analysers(load_settings(), detector, None, "yunet", ""))
    ctx = Context(settings=settings, sidecar=None, ruleset=None, duration_s=info_.duration_s,
                  media=info_, frames=video.frames,
                  audio_levels={"unknown": loudness_per_second(decode_audio(media), 0.0)},
                  transcript=None)
    res = media_quality.run(ctx)
    assert res.status == "fail"
    dark = [e for e in res.evidence if e["kind"] == "too_dark"]
    silence = [e for e in res.evidence if e["kind"] == "silence"]
    assert len(dark) == 1 and 4.5 <= dark[0]["start_s"] <= 5.5 and 12.0 <= dark[0]["end_s"] <= 13.0
    assert len(silence) == 1 and silence[0]["start_s"] in (10.0, 11.0)
    assert silence[0]["end_s"] in (42.0, 43.0)
    assert "picture too dark for" in res.message and "silence for" in res.message
