"""The fast frame scan (faces.scan: keyframes) against the dense reference path.

The fast path observes keyframes, then decodes at sample_fps only between keyframes
where what the checks see changes (or keyframes are far apart). For the checks it must
be equivalent to the dense path: the same absences, to within one sample period.
"""
import subprocess
from pathlib import Path

import pytest

from samples.scene import SceneRenderer
from verifier.checks import Context, face_both_visible
from verifier.engine import Analysers, analyse_video
from verifier.media import probe


def booth(out: Path, duration_s: float, *, fps: int = 10, gop: int = 20,
          customer_absent=(), dark=()) -> Path:
    """Booth video (640x360) without sound; `gop` frames between keyframes (no scene-cut
    keyframes, so the GOP is exact); `dark`: intervals where the light goes out."""
    n = int(round(duration_s * fps))
    scene = SceneRenderer(n, fps)
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
           "-s", f"{scene.lay.width}x{scene.lay.height}", "-r", str(fps), "-i", "pipe:0",
           "-c:v", "libx264", "-preset", "ultrafast", "-crf", "30", "-pix_fmt", "yuv420p",
           "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0", str(out)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    for i in range(n):
        t = i / fps
        frame = scene.frame(i, customer_present=not any(a <= t < b for a, b in customer_absent))
        if any(a <= t < b for a, b in dark):
            frame = (frame * 0.08).astype("uint8")
        proc.stdin.write(frame.tobytes())
    proc.stdin.close()
    assert proc.wait() == 0
    return out


@pytest.fixture(scope="module")
def analysers(detector):
    from verifier.config import load_settings
    return Analysers(load_settings(), detector, None, "yunet", "")


def scan(analysers, media, mode):
    analysers.settings.thresholds["faces"]["scan"] = mode
    try:
        return analyse_video(probe(media), analysers)
    finally:
        analysers.settings.thresholds["faces"]["scan"] = "keyframes"


def absences(settings, frames, duration):
    ctx = Context(settings=settings, sidecar=None, ruleset=None, duration_s=duration,
                  frames=frames)
    res = face_both_visible.run(ctx)
    return res, [(e["role"], e["start_s"], e["end_s"]) for e in res.evidence]


def fres_msg(settings, analysis):
    return absences(settings, analysis.frames, 40.0)[0].message


def assert_equivalent(settings, fast, dense, duration):
    period = 1.0 / settings.threshold("faces", "sample_fps")
    fres, fev = absences(settings, fast.frames, duration)
    dres, dev = absences(settings, dense.frames, duration)
    assert fres.status == dres.status
    assert [r for r, _, _ in fev] == [r for r, _, _ in dev], (fev, dev)
    for (_, fa, fb), (_, da, db) in zip(fev, dev):
        assert abs(fa - da) <= period + 1e-6 and abs(fb - db) <= period + 1e-6, (fev, dev)
    return fev


def test_customer_leaving_found_like_dense_with_few_frames(tmp_path, analysers, settings):
    media = booth(tmp_path / "leave.mp4", 40.0, customer_absent=[(13.3, 24.6)])
    fast, dense = scan(analysers, media, "keyframes"), scan(analysers, media, "dense")
    ev = assert_equivalent(settings, fast, dense, 40.0)
    assert ev and ev[0][0] == "customer" and 13.0 <= ev[0][1] <= 14.0 and 24.5 <= ev[0][2] <= 25.5
    # keyframes every 2 s, decoded densely only around the two changes
    assert fast.stats["keyframes"] == 20 and fast.stats["windows"] == 2
    observed = fast.stats["keyframes"] + fast.stats["window_frames"]
    assert observed < len(dense.frames) / 2
    # the rest of the sample grid is carried forward from the keyframe before, so the
    # checks see the same samples as on the dense path (shares are sample counts)
    assert [f.t for f in fast.frames] == [f.t for f in dense.frames]
    assert fres_msg(settings, fast) == fres_msg(settings, dense)


def test_long_gop_decodes_between_sparse_keyframes(tmp_path, analysers, settings):
    media = booth(tmp_path / "gop.mp4", 30.0, fps=25, gop=250, customer_absent=[(12.2, 21.0)])
    fast, dense = scan(analysers, media, "keyframes"), scan(analysers, media, "dense")
    assert fast.stats["keyframes"] == 3            # at 0, 10 and 20 s
    assert fast.stats["decode_runs"] == 1          # adjacent windows share one ffmpeg run
    assert fast.stats["carried"] == 0
    ev = assert_equivalent(settings, fast, dense, 30.0)
    assert ev[0][0] == "customer"
    assert sorted(f.t for f in fast.frames) == sorted(f.t for f in dense.frames)


def test_darkness_between_keyframes_is_sampled_densely(tmp_path, analysers, settings):
    media = booth(tmp_path / "dark.mp4", 20.0, dark=[(7.3, 12.6)])
    fast = scan(analysers, media, "keyframes")
    dark = [f.t for f in fast.frames if f.luma < settings.threshold("media", "dark_luma")]
    assert dark and 7.0 <= dark[0] <= 8.0 and 12.0 <= dark[-1] <= 12.6
