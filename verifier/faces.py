"""Face detection (YuNet) and per-role tracking over sampled frames.

A detection is not an identification (DOMAIN.md, Recognition realities): a face counts
only when it is big enough (eye distance), sharp enough and lit well enough.
"""
from __future__ import annotations

import os

# OpenCV's DNN backend warns on stderr at first use; the CLI's stderr is for our errors.
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")

from dataclasses import dataclass, field
from typing import Iterable  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

ROLES = ("staff", "customer")


@dataclass(frozen=True)
class FaceThresholds:
    detector_score: float
    min_eye_distance_px: float
    min_sharpness: float
    min_brightness: float
    max_brightness: float
    staff_side: str = "left"

    @classmethod
    def from_settings(cls, settings) -> "FaceThresholds":
        t = settings.thresholds["faces"]
        return cls(
            detector_score=float(t["detector_score"]),
            min_eye_distance_px=float(t["min_eye_distance_px"]),
            min_sharpness=float(t["min_sharpness"]),
            min_brightness=float(t["min_brightness"]),
            max_brightness=float(t["max_brightness"]),
            staff_side=str(t["staff_side"]),
        )


@dataclass(frozen=True)
class Face:
    # Geometry in source-video pixels, whatever scale the detector ran at.
    x: float
    y: float
    w: float
    h: float
    score: float
    eye_distance_px: float
    sharpness: float
    brightness: float
    problem: str | None  # why it is not identifiable; None when it is

    @property
    def identifiable(self) -> bool:
        return self.problem is None

    @property
    def cx(self) -> float:
        return self.x + self.w / 2


@dataclass
class FrameFaces:
    t: float
    width: int
    faces: list[Face]
    luma: float = 0.0  # mean brightness of the whole frame (0-255), for media.quality
    roles: dict[str, Face] = field(default_factory=dict)  # identifiable faces by role
    others: list[Face] = field(default_factory=list)      # identifiable third persons

    def present(self, role: str) -> bool:
        return role in self.roles

    def describe(self) -> str:
        ident = [f for f in self.faces if f.identifiable]
        text = f"{len(ident)} identifiable face{'s' if len(ident) != 1 else ''}"
        weak = [f.problem for f in self.faces if not f.identifiable]
        if weak:
            text += f"; {len(weak)} not identifiable ({'; '.join(weak)})"
        return text


class FaceDetector:
    def __init__(self, model_path: str, thresholds: FaceThresholds, max_width: int = 960):
        self.thresholds = thresholds
        self.max_width = max_width
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        # Low detector floor: weak detections are kept so findings can say "too small".
        self._det = cv2.FaceDetectorYN.create(model_path, "", (320, 320), 0.5, 0.3, 5000)
        self._size: tuple[int, int] | None = None

    def detect(self, frame: np.ndarray) -> list[Face]:
        h, w = frame.shape[:2]
        scale = min(1.0, self.max_width / w) if self.max_width else 1.0
        img = cv2.resize(frame, (round(w * scale), round(h * scale))) if scale < 1.0 else frame
        size = (img.shape[1], img.shape[0])
        if size != self._size:
            self._det.setInputSize(size)
            self._size = size
        _, raw = self._det.detect(img)
        if raw is None:
            return []
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        return [self._face(row, scale, gray) for row in raw
                if float(row[14]) >= self.thresholds.detector_score]

    def _face(self, row: np.ndarray, scale: float, gray: np.ndarray) -> Face:
        x, y, w, h = (float(v) / scale for v in row[:4])
        re_x, re_y, le_x, le_y = (float(v) / scale for v in row[4:8])
        eye = float(np.hypot(re_x - le_x, re_y - le_y))
        x0, y0 = max(int(x), 0), max(int(y), 0)
        crop = gray[y0:max(int(y + h), y0 + 1), x0:max(int(x + w), x0 + 1)]
        if crop.size == 0:
            sharp, bright = 0.0, 0.0
        else:
            norm = cv2.resize(crop, (112, 112), interpolation=cv2.INTER_AREA)
            sharp = float(cv2.Laplacian(norm, cv2.CV_64F).var())
            bright = float(norm.mean())
        t = self.thresholds
        problem = None
        if eye < t.min_eye_distance_px:
            problem = f"too small: eye distance {eye:.0f} px < {t.min_eye_distance_px:.0f}"
        elif sharp < t.min_sharpness:
            problem = f"blurred: sharpness {sharp:.0f} < {t.min_sharpness:.0f}"
        elif bright < t.min_brightness:
            problem = f"too dark: brightness {bright:.0f} < {t.min_brightness:.0f}"
        elif bright > t.max_brightness:
            problem = f"overexposed: brightness {bright:.0f} > {t.max_brightness:.0f}"
        return Face(x, y, w, h, float(row[14]), eye, sharp, bright, problem)


# How far (a share of the frame's width) a face may be from where a role's person has
# been for it to be that person. The seats are half the frame apart; someone standing
# between them (a quarter away from each) is a third person, not whoever left a seat.
ROLE_MAX_OFFSET = 0.2


class RoleTracker:
    """Tells seller from customer by where they sit, following slow drift over time.

    In a 双录 booth the two sit on fixed sides of the camera; the configured side is the
    prior, and each role's anchor follows its face so a lean or a seat change does not
    swap the roles. A face further than `ROLE_MAX_OFFSET` of the width from a role's
    anchor never takes that role: a third person does not stand in for someone absent.
    """

    def __init__(self, width: int, staff_side: str = "left", follow: float = 0.2,
                 max_offset: float = ROLE_MAX_OFFSET):
        left, right = 0.25 * width, 0.75 * width
        self.anchor = {"staff": left, "customer": right} if staff_side == "left" \
            else {"staff": right, "customer": left}
        self.follow = follow
        self.max_offset = max_offset * width

    def assign(self, faces: list[Face]) -> tuple[dict[str, Face], list[Face]]:
        candidates = sorted((f for f in faces if f.identifiable), key=lambda f: -f.w * f.h)
        # Every way of giving each role one face (or none) within reach of its anchor:
        # the most roles filled, then the least total distance, then the larger faces.
        best, best_key = {}, None
        options = [None, *candidates]
        for s in options:
            for c in options:
                if s is not None and s is c:
                    continue
                pick = {r: f for r, f in (("staff", s), ("customer", c)) if f is not None}
                dist = [abs(f.cx - self.anchor[r]) for r, f in pick.items()]
                if any(d > self.max_offset for d in dist):
                    continue
                key = (-len(pick), sum(dist), -sum(f.w * f.h for f in pick.values()))
                if best_key is None or key < best_key:
                    best, best_key = pick, key
        roles: dict[str, Face] = best
        for role, f in roles.items():
            self.anchor[role] += self.follow * (f.cx - self.anchor[role])
        others = [f for f in candidates if all(f is not g for g in roles.values())]
        return roles, others


def observe_frame(t: float, frame: np.ndarray, detector: FaceDetector) -> FrameFaces:
    """Faces and mean brightness of one frame; roles are assigned later, in time order
    (:func:`assign_roles`), so frames may be observed out of order (the fast scan)."""
    faces = detector.detect(frame)
    luma = float(cv2.cvtColor(frame[::4, ::4], cv2.COLOR_BGR2GRAY).mean())
    return FrameFaces(t=t, width=frame.shape[1], faces=faces, luma=luma)


def assign_roles(frames: list[FrameFaces], staff_side: str) -> list[FrameFaces]:
    """Give each frame's identifiable faces their roles, following the people through
    `frames` in time order (sorts `frames` in place and returns it)."""
    frames.sort(key=lambda f: f.t)
    tracker: RoleTracker | None = None
    for ff in frames:
        if tracker is None:
            tracker = RoleTracker(ff.width, staff_side)
        ff.roles, ff.others = tracker.assign(ff.faces)
    return frames


def analyse_frames(frames: Iterable[tuple[float, np.ndarray]], detector: FaceDetector
                   ) -> list[FrameFaces]:
    out = [observe_frame(t, frame, detector) for t, frame in frames]
    return assign_roles(out, detector.thresholds.staff_side)


def presence(frames: list[FrameFaces], end_s: float) -> dict[str, list[list[float]]]:
    """When each role (and any third person) was identifiable, as [start_s, end_s] lists."""
    from verifier.intervals import true_runs

    times = [f.t for f in frames]
    series = {role: [f.present(role) for f in frames] for role in ROLES}
    series["extra"] = [bool(f.others) for f in frames]
    return {name: [[round(a, 2), round(b, 2)] for a, b in true_runs(times, flags, end_s)]
            for name, flags in series.items()}
