"""The picture of a demo 双录 recording: a sales booth with a seller and a customer.

Both people are built from one real photograph, ``skimage.data.astronaut()`` (NASA
portrait of Eileen Collins, public domain), so that a real face detector (YuNet)
finds real faces:

* staff (left half): the head cut out with GrabCut and re-dressed in a navy suit,
  white shirt, tie and a name badge (the space suit and its neck ring are painted
  over with flat cloth);
* customer (right half): the same head mirrored, slightly smaller, hair darkened,
  a dark red sweater, a warmer and dimmer colour grade and thin glasses, so it is
  visibly another person to the eye. Both faces come from one photograph, so a
  face-recognition model would call them the same person: the demos exercise face
  presence, not identity matching;
* a third person when asked for (a visitor standing behind the desk between the
  two): the customer's styling, not mirrored, in a grey jacket.

The office is drawn with OpenCV primitives (wall, window with blinds, a poster, a
clock, a desk with papers, an empty chair when someone has left) and a camera OSD
with date and time, as 双录 booth cameras burn in. Everything is deterministic.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta

import cv2
import numpy as np

# Face centre in the astronaut image (YuNet box 178,63 90x113).
_FACE_CX, _FACE_CY = 224.0, 118.0
# Bust crop in the astronaut image: x0, y0, x1, y1.
_CROP = (18, 8, 372, 345)


@functools.lru_cache(maxsize=1)
def _astronaut_and_mask() -> tuple[np.ndarray, np.ndarray]:
    from skimage import data

    img = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    h, w = img.shape[:2]
    mask = np.full((h, w), cv2.GC_BGD, np.uint8)
    outline = np.array(
        [[150, 20], [300, 20], [310, 140], [330, 200], [365, 300], [370, 512],
         [18, 512], [25, 300], [60, 250], [120, 180], [150, 140]]
    )
    cv2.fillPoly(mask, [outline], cv2.GC_PR_FGD)
    cv2.ellipse(mask, (225, 100), (55, 75), 0, 0, 360, cv2.GC_FGD, -1)  # head
    cv2.ellipse(mask, (210, 215), (85, 60), 0, 0, 360, cv2.GC_FGD, -1)  # neck ring
    cv2.rectangle(mask, (60, 290), (330, 512), cv2.GC_FGD, -1)  # torso
    cv2.setRNGSeed(7)
    bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.grabCut(img, mask, None, bgd, fgd, 5, cv2.GC_INIT_WITH_MASK)
    m = np.where((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD), 255, 0).astype(np.uint8)
    m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9)))
    n, lab, st, _ = cv2.connectedComponentsWithStats(m)
    m = np.where(lab == 1 + int(np.argmax(st[1:, cv2.CC_STAT_AREA])), 255, 0).astype(np.uint8)
    n, lab, st, _ = cv2.connectedComponentsWithStats(255 - m)  # fill holes
    for i in range(1, n):
        x, y, bw, bh, _a = st[i]
        if x > 0 and y > 0 and x + bw < w and y + bh < h:
            m[lab == i] = 255
    return img, m


def _recolour(img: np.ndarray, sel: np.ndarray, hue: int, sat: float, val: float) -> np.ndarray:
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV).astype(np.float32)
    hsv[..., 0] = np.where(sel, hue, hsv[..., 0])
    hsv[..., 1] = np.where(sel, hsv[..., 1] * sat, hsv[..., 1])
    hsv[..., 2] = np.where(sel, hsv[..., 2] * val, hsv[..., 2])
    return cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2BGR)


@dataclass(frozen=True)
class Sprite:
    bgr: np.ndarray  # h x w x 3
    alpha: np.ndarray  # h x w float32 0..1
    face_x: float  # face centre within the sprite
    face_y: float


@functools.lru_cache(maxsize=12)
def person_sprite(role: str, scale: float) -> Sprite:
    """``role``: ``staff`` (navy suit, tie, badge), ``customer`` (mirrored, red sweater,
    dark hair, glasses) or ``visitor`` (a third person: the customer's styling in a grey
    jacket, not mirrored)."""
    img, mask = _astronaut_and_mask()
    h, w = img.shape[:2]
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
    hh, ss, vv = (hsv[..., i].astype(np.int32) for i in range(3))
    yy, xx = np.mgrid[0:h, 0:w]
    inside = mask > 0
    face = ((xx - _FACE_CX) / 47.0) ** 2 + ((yy - 124.0) / 64.0) ** 2 <= 1.0
    # Re-dress the astronaut: shoulders follow a sloping curve (the suit's neck ring,
    # which sticks up beside the head, is cut away), a neck, and office clothes.
    y_sh = 194.0 + 0.0024 * (xx - 219.0) ** 2
    neck = (np.abs(xx - 219) < 23) & (yy >= 150)
    drop = inside & ~face & ~neck & (yy > 140) & (yy < y_sh)
    inside = inside & ~drop
    body = inside & (yy >= y_sh)
    mask = np.where(inside, 255, 0).astype(np.uint8)

    def soft(sel: np.ndarray, k: int = 5) -> np.ndarray:
        return cv2.GaussianBlur(sel.astype(np.float32), (k, k), 0)[..., None]

    out = img.copy()
    # neck: skin where the black undershirt shows below the chin, shaded under the jaw
    skin = img[125:150, 205:245].reshape(-1, 3).mean(0)
    neck_dark = neck & inside & ~body & (vv < 110) & (yy > 165)
    shadow = np.clip((yy - 176) / 30.0, 0, 1)[..., None]
    neck_col = skin * (0.72 + 0.18 * shadow)
    a = soft(neck_dark, 3)
    out = (neck_col * a + out * (1 - a)).astype(np.uint8)
    # clothes: flat cloth colour with a soft top-to-bottom shading
    shade = 0.95 - 0.25 * np.clip((yy - 190) / 160.0, 0, 1) + 0.05 * np.cos((xx - 219) / 60.0)
    colour = np.array({"staff": [92, 52, 32], "visitor": [96, 104, 100]}.get(role, [48, 40, 120]),
                      np.float32)  # navy | grey | dark red
    cloth = np.clip(colour * shade[..., None], 0, 255)
    a = soft(body)
    out = (cloth * a + out * (1 - a)).astype(np.uint8)
    yn = 194  # neckline at the neck's base
    if role == "staff":
        # white shirt V, collar and a tie
        cv2.fillPoly(out, [np.array([[192, yn - 4], [246, yn - 4], [232, 300], [206, 300]])], (232, 234, 236), cv2.LINE_AA)
        cv2.fillPoly(out, [np.array([[180, yn + 6], [196, yn - 8], [212, yn + 22]])], (245, 246, 248), cv2.LINE_AA)
        cv2.fillPoly(out, [np.array([[258, yn + 6], [242, yn - 8], [226, yn + 22]])], (245, 246, 248), cv2.LINE_AA)
        cv2.fillPoly(out, [np.array([[213, yn + 4], [225, yn + 4], [231, 285], [219, 298], [207, 285]])], (40, 30, 140), cv2.LINE_AA)
        cv2.fillPoly(out, [np.array([[212, yn - 3], [226, yn - 3], [223, yn + 8], [215, yn + 8]])], (30, 22, 110), cv2.LINE_AA)
        # lapels
        cv2.line(out, (176, yn + 10), (206, 300), (60, 34, 20), 3, cv2.LINE_AA)
        cv2.line(out, (262, yn + 10), (232, 300), (60, 34, 20), 3, cv2.LINE_AA)
        # name badge
        cv2.rectangle(out, (268, 250), (306, 264), (235, 235, 235), -1)
        cv2.rectangle(out, (268, 250), (306, 256), (40, 40, 170), -1)
    else:
        # round sweater neckline
        cv2.ellipse(out, (219, yn), (30, 14), 0, 0, 180, (36, 30, 96), 5, cv2.LINE_AA)
        # dark hair: everything of the head above the collar outside the face oval
        hair = inside & ~face & (yy < 150)
        dark = _recolour(out, np.ones_like(hair), hue=10, sat=0.5, val=0.42)
        a = soft(hair, 9)
        out = (dark * a + out * (1 - a)).astype(np.uint8)
        # warmer, dimmer grade on the whole person
        out = np.clip(out.astype(np.float32) * np.array([0.86, 0.93, 1.02]) * 0.95 + 4, 0, 255).astype(np.uint8)
        # thin glasses around the eyes (YuNet landmarks 200,102 and 247,103)
        col = (35, 30, 28)
        for ex, ey in ((200, 103), (247, 104)):
            cv2.ellipse(out, (ex, ey), (15, 10), 0, 0, 360, col, 2, cv2.LINE_AA)
        cv2.line(out, (215, 102), (232, 103), col, 2, cv2.LINE_AA)
        cv2.line(out, (185, 101), (176, 98), col, 2, cv2.LINE_AA)
        cv2.line(out, (262, 102), (272, 99), col, 2, cv2.LINE_AA)

    x0, y0, x1, y1 = _CROP
    bgr = out[y0:y1, x0:x1]
    alpha = cv2.GaussianBlur(mask[y0:y1, x0:x1].astype(np.float32) / 255.0, (7, 7), 2.0)
    fx, fy = _FACE_CX - x0, _FACE_CY - y0
    if role == "customer":
        bgr = bgr[:, ::-1]
        alpha = alpha[:, ::-1]
        fx = (x1 - x0) - fx
    if scale != 1.0:
        size = (int(round(bgr.shape[1] * scale)), int(round(bgr.shape[0] * scale)))
        bgr = cv2.resize(np.ascontiguousarray(bgr), size, interpolation=cv2.INTER_AREA)
        alpha = cv2.resize(np.ascontiguousarray(alpha), size, interpolation=cv2.INTER_AREA)
        fx, fy = fx * scale, fy * scale
    return Sprite(np.ascontiguousarray(bgr), np.ascontiguousarray(alpha), fx, fy)


@functools.lru_cache(maxsize=4)
def office_background(width: int, height: int) -> np.ndarray:
    """Plain office wall with a window, poster and clock (BGR)."""
    s = height / 360.0
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    top, bottom = np.array([214, 226, 234], np.float32), np.array([178, 194, 206], np.float32)
    bg = np.broadcast_to(top * (1 - y) + bottom * y, (height, width, 3)).copy()
    rng = np.random.default_rng(11)  # faint wall texture
    bg += cv2.GaussianBlur(rng.normal(0, 3, (height, width)).astype(np.float32), (0, 0), 3)[..., None]
    bg = np.clip(bg, 0, 255).astype(np.uint8)
    p = lambda v: int(round(v * s))  # noqa: E731
    # skirting / wainscot line
    cv2.rectangle(bg, (0, p(250)), (width, p(256)), (150, 165, 175), -1)
    # window with blinds, upper left corner
    wx0, wy0, wx1, wy1 = p(18), p(30), p(120), p(170)
    cv2.rectangle(bg, (wx0, wy0), (wx1, wy1), (246, 240, 232), -1)
    for yb in range(wy0 + p(6), wy1, max(3, p(9))):
        cv2.line(bg, (wx0, yb), (wx1, yb), (205, 200, 195), 1)
    cv2.rectangle(bg, (wx0, wy0), (wx1, wy1), (120, 125, 130), max(2, p(3)))
    # poster in the middle: bank colours, a chart
    px0, py0, px1, py1 = width // 2 - p(48), p(34), width // 2 + p(48), p(150)
    cv2.rectangle(bg, (px0, py0), (px1, py1), (250, 250, 250), -1)
    cv2.rectangle(bg, (px0, py0), (px1, py0 + p(22)), (40, 40, 170), -1)
    pts = np.array([[px0 + p(10), py1 - p(20)], [px0 + p(35), py1 - p(45)], [px0 + p(55), py1 - p(35)], [px1 - p(10), py1 - p(75)]])
    cv2.polylines(bg, [pts], False, (60, 140, 60), 2, cv2.LINE_AA)
    for i in range(3):
        cv2.line(bg, (px0 + p(10), py0 + p(34) + i * p(9)), (px1 - p(10 + 20 * i), py0 + p(34) + i * p(9)), (150, 150, 150), 1)
    cv2.rectangle(bg, (px0, py0), (px1, py1), (90, 90, 90), 1)
    # wall clock, upper right
    cx, cy, r = width - p(60), p(62), p(24)
    cv2.circle(bg, (cx, cy), r, (245, 245, 245), -1, cv2.LINE_AA)
    cv2.circle(bg, (cx, cy), r, (60, 60, 60), 2, cv2.LINE_AA)
    cv2.line(bg, (cx, cy), (cx, cy - int(r * 0.75)), (40, 40, 40), 2, cv2.LINE_AA)
    cv2.line(bg, (cx, cy), (cx + int(r * 0.5), cy + int(r * 0.2)), (40, 40, 40), 2, cv2.LINE_AA)
    return cv2.GaussianBlur(bg, (3, 3), 0)


def _draw_chair(frame: np.ndarray, cx: int, top: int, s: float) -> None:
    w2 = int(70 * s)
    cv2.rectangle(frame, (cx - w2, top), (cx + w2, frame.shape[0]), (70, 70, 78), -1)
    cv2.rectangle(frame, (cx - w2, top), (cx + w2, frame.shape[0]), (50, 50, 55), 2)


def _draw_desk(frame: np.ndarray, s: float) -> None:
    h, w = frame.shape[:2]
    top = int(round(292 * s))
    desk = np.array([[0, top], [w, top], [w, h], [0, h]])
    cv2.fillPoly(frame, [desk], (62, 98, 140))  # wood
    cv2.rectangle(frame, (0, top), (w, top + max(2, int(4 * s))), (45, 75, 110), -1)  # edge
    # papers and a pen on the desk
    paper = np.array([[w // 2 - int(60 * s), top + int(14 * s)], [w // 2 + int(10 * s), top + int(10 * s)],
                      [w // 2 + int(20 * s), top + int(52 * s)], [w // 2 - int(55 * s), top + int(56 * s)]])
    cv2.fillPoly(frame, [paper], (238, 240, 242), cv2.LINE_AA)
    for i in range(4):
        yl = top + int((20 + 8 * i) * s)
        cv2.line(frame, (w // 2 - int(50 * s), yl + 2), (w // 2 + int(8 * s), yl), (160, 160, 160), 1)
    cv2.line(frame, (w // 2 + int(40 * s), top + int(20 * s)), (w // 2 + int(75 * s), top + int(40 * s)), (30, 30, 30), 3, cv2.LINE_AA)


def _paste(frame: np.ndarray, sp: Sprite, x: int, y: int) -> None:
    h, w = sp.bgr.shape[:2]
    fh, fw = frame.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, fw), min(y + h, fh)
    if x0 >= x1 or y0 >= y1:
        return
    src = sp.bgr[y0 - y:y1 - y, x0 - x:x1 - x].astype(np.float32)
    a = sp.alpha[y0 - y:y1 - y, x0 - x:x1 - x, None]
    dst = frame[y0:y1, x0:x1].astype(np.float32)
    frame[y0:y1, x0:x1] = (src * a + dst * (1 - a) + 0.5).astype(np.uint8)


def _jitter_track(n: int, fps: float, rng: np.random.Generator, amp: float) -> np.ndarray:
    """Smooth head sway of at most ``amp`` px: three slow sinusoids per axis. Shape (n, 2)."""
    t = np.arange(n, dtype=np.float64) / fps
    out = np.zeros((n, 2))
    for k in range(2):
        for period in (3.7, 9.1, 1.3):  # seconds
            out[:, k] += np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi)) * rng.uniform(0.3, 1.0)
    out = out / np.max(np.abs(out)) * amp
    return np.round(out).astype(int)


@dataclass
class SceneLayout:
    width: int = 640
    height: int = 360
    staff_scale: float = 0.95
    customer_scale: float = 0.88
    staff_face: tuple[float, float] = (0.25, 0.36)  # face centre, fraction of width/height
    customer_face: tuple[float, float] = (0.75, 0.39)
    jitter_px: float = 3.0
    # A third person (``SceneRenderer.frame(third_present=True)``): standing behind the
    # desk between the two, a little further from the camera.
    third_scale: float = 0.72
    third_face: tuple[float, float] = (0.5, 0.30)


class SceneRenderer:
    """Renders frame i of the booth, with either person present or absent."""

    def __init__(self, n_frames: int, fps: float, layout: SceneLayout | None = None,
                 seed: int = 20261121, osd_start: datetime | None = None, osd_label: str = "BR001 CAM1"):
        self.lay = layout or SceneLayout()
        self.fps = fps
        self.s = self.lay.height / 360.0
        self.bg = office_background(self.lay.width, self.lay.height)
        self.staff = person_sprite("staff", self.lay.staff_scale * self.s)
        self.customer = person_sprite("customer", self.lay.customer_scale * self.s)
        rng = np.random.default_rng(seed)
        self.j_staff = _jitter_track(n_frames, fps, rng, self.lay.jitter_px * self.s)
        self.j_cust = _jitter_track(n_frames, fps, rng, self.lay.jitter_px * self.s)
        self.osd_start = osd_start
        self.osd_label = osd_label
        # The third person's sway has a generator of its own, so the two people's
        # tracks (and every frame without a third person) stay as they were.
        self.j_third = _jitter_track(n_frames, fps, np.random.default_rng(seed + 1),
                                     self.lay.jitter_px * self.s)
        self._third: Sprite | None = None

    def _origin(self, sp: Sprite, face: tuple[float, float]) -> tuple[int, int]:
        return (int(round(face[0] * self.lay.width - sp.face_x)), int(round(face[1] * self.lay.height - sp.face_y)))

    def face_centres(self, i: int) -> dict[str, tuple[float, float]]:
        """Where each face centre is drawn in frame i (for tests)."""
        j = min(i, len(self.j_staff) - 1)
        return {
            "staff": (self.lay.staff_face[0] * self.lay.width + self.j_staff[j, 0], self.lay.staff_face[1] * self.lay.height + self.j_staff[j, 1]),
            "customer": (self.lay.customer_face[0] * self.lay.width + self.j_cust[j, 0], self.lay.customer_face[1] * self.lay.height + self.j_cust[j, 1]),
        }

    def frame(self, i: int, staff_present: bool = True, customer_present: bool = True,
              third_present: bool = False, light: float = 1.0) -> np.ndarray:
        """Frame i. ``third_present``: a third person stands between the two.
        ``light``: the room's brightness (1.0 as lit; 0.3 a dark room), applied to the
        picture before the camera's date/time overlay, which stays legible."""
        f = self.bg.copy()
        j = min(i, len(self.j_staff) - 1)
        s = self.s
        chair_top = int(175 * s)
        if not customer_present:
            _draw_chair(f, int(self.lay.customer_face[0] * self.lay.width), chair_top, s)
        if not staff_present:
            _draw_chair(f, int(self.lay.staff_face[0] * self.lay.width), chair_top, s)
        if third_present:
            if self._third is None:
                self._third = person_sprite("visitor", self.lay.third_scale * s)
            x, y = self._origin(self._third, self.lay.third_face)
            _paste(f, self._third, x + int(self.j_third[j, 0]), y + int(self.j_third[j, 1]))
        if customer_present:
            x, y = self._origin(self.customer, self.lay.customer_face)
            _paste(f, self.customer, x + int(self.j_cust[j, 0]), y + int(self.j_cust[j, 1]))
        if staff_present:
            x, y = self._origin(self.staff, self.lay.staff_face)
            _paste(f, self.staff, x + int(self.j_staff[j, 0]), y + int(self.j_staff[j, 1]))
        _draw_desk(f, s)
        if light != 1.0:
            f = np.clip(f.astype(np.float32) * light + 0.5, 0, 255).astype(np.uint8)
        if self.osd_start is not None:
            ts = (self.osd_start + timedelta(seconds=i / self.fps)).strftime("%Y-%m-%d %H:%M:%S")
            # bottom-right corner, over the desk, clear of both faces
            x0, y0 = self.lay.width - int(186 * s), self.lay.height - int(46 * s)
            box = f[y0:self.lay.height - int(4 * s), x0:self.lay.width - int(4 * s)]
            box[:] = (box * 0.45).astype(np.uint8)
            for txt, dy in ((ts, 17), (self.osd_label, 36)):
                cv2.putText(f, txt, (x0 + int(6 * s), y0 + int(dy * s)), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * s,
                            (255, 255, 255), 1, cv2.LINE_AA)
        return f
