"""face.key_moments and face.extra_person on synthetic frames and phrase matches."""
import copy
from types import SimpleNamespace

import pytest

from verifier.checks import Context, face_extra_person, face_key_moments
from verifier.faces import Face, FrameFaces
from verifier.phrase_match import PhraseMatch


def face(cx: float) -> Face:
    return Face(cx - 60, 200, 120, 150, 0.95, 40.0, 80.0, 120.0, None)


STAFF, CUSTOMER, THIRD = face(300), face(1000), face(640)


def frames(times, customer=lambda t: True, staff=lambda t: True, third=lambda t: False):
    out = []
    for t in times:
        roles = {}
        if staff(t):
            roles["staff"] = STAFF
        if customer(t):
            roles["customer"] = CUSTOMER
        others = [THIRD] if third(t) else []
        out.append(FrameFaces(t=t, width=1280, faces=[*roles.values(), *others],
                              roles=roles, others=others))
    return out


def every(step, end, start=0.0):
    n = int(round((end - start) / step))
    return [round(start + i * step, 3) for i in range(n + 1)]


def match(pid, start=None, end=None, found=True, near_miss=False):
    return PhraseMatch(pid, found, near_miss, 0.9 if found else 0.65 if near_miss else 0.0,
                       start, end, "", "")


def phrase(pid, critical=True):
    return SimpleNamespace(id=pid, critical=critical)


STAGE = SimpleNamespace(id="disclosure")


def make_ctx(settings, frame_list, duration, required=(), questions=(), **thresholds):
    s = copy.deepcopy(settings)
    s.thresholds["faces"].update(thresholds)
    ctx = Context(settings=s, sidecar=None, ruleset=None, duration_s=duration,
                  frames=frame_list, transcript=[])
    ctx.required_matches = lambda: [(STAGE, phrase(p, c), m) for p, c, m in required]
    ctx.question_matches = lambda: [(SimpleNamespace(id="confirmation"), phrase(p, c), m)
                                    for p, c, m in questions]
    return ctx


def items_by_id(result):
    return {i["id"]: i for i in result.items}


# ---------------------------------------------------------------- face.key_moments

def test_both_faces_at_every_moment_pass(settings):
    ctx = make_ctx(settings, frames(every(0.5, 60)), 60,
                   required=[("not-deposit", True, match("not-deposit", 10.0, 14.0))],
                   questions=[("understood-risk", True, match("understood-risk", 40.0, 44.0))])
    r = face_key_moments.run(ctx)
    assert r.status == "pass" and r.severity == "critical"
    items = items_by_id(r)
    assert items["not-deposit"] == {"id": "not-deposit", "kind": "phrase", "stage": "disclosure",
                                    "window": [10.0, 14.0], "samples": 8, "staff_visible": 1.0,
                                    "customer_visible": 1.0, "status": "pass"}
    # A confirmation is the question plus the answer window after it.
    assert items["understood-risk"]["kind"] == "confirmation"
    assert items["understood-risk"]["window"] == [40.0, 49.0]
    assert r.evidence == []


def test_customer_gone_while_disclosure_is_read_fails_with_the_window(settings):
    ctx = make_ctx(settings, frames(every(0.5, 60), customer=lambda t: not 9 <= t < 15), 60,
                   required=[("not-deposit", True, match("not-deposit", 10.0, 14.0)),
                             ("product-risk", True, match("product-risk", 20.0, 24.0))])
    r = face_key_moments.run(ctx)
    assert r.status == "fail"
    items = items_by_id(r)
    assert items["not-deposit"]["status"] == "fail"
    assert items["not-deposit"]["customer_visible"] == 0.0
    assert items["not-deposit"]["staff_visible"] == 1.0
    assert items["product-risk"]["status"] == "pass"
    [ev] = r.evidence
    assert (ev["start_s"], ev["end_s"], ev["role"], ev["moment"]) == (10.0, 14.0, "customer",
                                                                      "not-deposit")
    assert "customer face not identifiable while not-deposit was said" in r.message
    assert "1 identifiable face" in ev["detail"]


def test_missing_staff_is_reported_as_staff(settings):
    ctx = make_ctx(settings, frames(every(0.5, 30), staff=lambda t: t < 10), 30,
                   required=[("risk-borne", True, match("risk-borne", 12.0, 15.0))])
    r = face_key_moments.run(ctx)
    assert r.status == "fail" and [e["role"] for e in r.evidence] == ["staff"]


def test_a_face_returning_just_after_the_phrase_starts_passes(settings):
    # Back 0.5 s (one sample) into a 4 s phrase: 87% of the window, over 80%.
    ctx = make_ctx(settings, frames(every(0.5, 30), customer=lambda t: t >= 10.5), 30,
                   required=[("not-deposit", True, match("not-deposit", 10.0, 14.0))])
    r = face_key_moments.run(ctx)
    assert r.status == "pass"
    assert items_by_id(r)["not-deposit"]["customer_visible"] == pytest.approx(0.875)
    # Strict configuration: any gap at a key moment fails.
    strict = make_ctx(settings, frames(every(0.5, 30), customer=lambda t: t >= 10.5), 30,
                      required=[("not-deposit", True, match("not-deposit", 10.0, 14.0))],
                      key_moment_min_share=1.0)
    assert face_key_moments.run(strict).status == "fail"


def test_customer_leaving_during_the_answer_fails_the_confirmation(settings):
    # The question ends at 44 s; the customer is gone from 45 s, inside the answer window.
    ctx = make_ctx(settings, frames(every(0.5, 60), customer=lambda t: t < 45), 60,
                   questions=[("willing-to-buy", True, match("willing-to-buy", 40.0, 44.0))])
    r = face_key_moments.run(ctx)
    item = items_by_id(r)["willing-to-buy"]
    assert r.status == "fail" and item["status"] == "fail"
    assert item["customer_visible"] == pytest.approx(5 / 9, abs=1e-3)
    assert "asked and answered" in r.message
    # A shorter answer window ends before the customer leaves.
    short = make_ctx(settings, frames(every(0.5, 60), customer=lambda t: t < 45), 60,
                     questions=[("willing-to-buy", True, match("willing-to-buy", 40.0, 44.0))],
                     key_moment_answer_window_s=1.0)
    assert face_key_moments.run(short).status == "pass"


def test_answer_window_stops_at_the_end_of_the_recording(settings):
    ctx = make_ctx(settings, frames(every(0.5, 30)), 30.0,
                   questions=[("willing-to-buy", True, match("willing-to-buy", 26.0, 28.0))])
    assert items_by_id(face_key_moments.run(ctx))["willing-to-buy"]["window"] == [26.0, 30.0]


def test_phrases_not_heard_are_skipped_and_say_who_reports_them(settings):
    ctx = make_ctx(settings, frames(every(0.5, 30)), 30,
                   required=[("not-deposit", True, match("not-deposit", found=False)),
                             ("benchmark", True, match("benchmark", 5.0, 8.0, found=False,
                                                       near_miss=True)),
                             ("product-risk", True, match("product-risk", 10.0, 12.0))],
                   questions=[("understood-risk", True, match("understood-risk", found=False))])
    r = face_key_moments.run(ctx)
    items = items_by_id(r)
    assert r.status == "pass"
    assert items["not-deposit"]["status"] == "skipped"
    assert items["not-deposit"]["window"] is None
    assert "speech.required" in items["not-deposit"]["note"]
    assert "near miss at 00:00:05" in items["benchmark"]["note"]
    assert "speech.confirmation" in items["understood-risk"]["note"]
    assert "not-deposit" in r.message and "benchmark" in r.message


def test_nothing_heard_skips_the_check(settings):
    ctx = make_ctx(settings, frames(every(0.5, 30)), 30,
                   required=[("not-deposit", True, match("not-deposit", found=False))])
    r = face_key_moments.run(ctx)
    assert r.status == "skipped" and "none of the key phrases" in r.message
    empty = make_ctx(settings, frames(every(0.5, 30)), 30)
    assert face_key_moments.run(empty).status == "skipped"


def test_only_critical_phrases_are_key_moments(settings):
    ctx = make_ctx(settings, frames(every(0.5, 30), customer=lambda t: t < 5), 30,
                   required=[("staff-introduction", False, match("staff-introduction", 10, 12))],
                   questions=[("optional-question", False, match("optional-question", 20, 22))])
    r = face_key_moments.run(ctx)
    assert r.items == [] and r.status == "skipped"


def test_uneven_sampling_is_weighted_by_time(settings):
    # Keyframes every 2 s, densely decoded (0.5 s) only around the customer leaving at
    # 9 s: a share of samples would say 3 of 8 frames miss the customer (62% < 80%);
    # by time she is there for 9 of the 10 s.
    times = sorted(set(every(2.0, 10) + [8.5, 9.0, 9.5]))
    ctx = make_ctx(settings, frames(times, customer=lambda t: t < 9), 10.0,
                   required=[("not-deposit", True, match("not-deposit", 0.0, 10.0))])
    r = face_key_moments.run(ctx)
    item = items_by_id(r)["not-deposit"]
    assert item["customer_visible"] == pytest.approx(0.9)
    assert item["samples"] == len(times) - 1  # the sample at 10.0 s stands for nothing after
    assert r.status == "pass"


def test_a_short_window_between_samples_is_judged_by_the_sample_holding_then(settings):
    # Samples every 2 s; a 0.3 s phrase at 3.1-3.4 s lies between the samples at 2 and 4.
    seen = make_ctx(settings, frames(every(2.0, 20)), 20,
                    required=[("r3", True, match("r3", 3.1, 3.4))])
    item = items_by_id(face_key_moments.run(seen))["r3"]
    assert item["samples"] == 1 and item["customer_visible"] == 1.0
    gone = make_ctx(settings, frames(every(2.0, 20), customer=lambda t: t != 2.0), 20,
                    required=[("r3", True, match("r3", 3.1, 3.4))])
    assert face_key_moments.run(gone).status == "fail"
    # A phrase at a single instant is judged by the frame showing that instant.
    instant = make_ctx(settings, frames(every(2.0, 20)), 20,
                       required=[("r3", True, match("r3", 5.0, 5.0))])
    assert items_by_id(face_key_moments.run(instant))["r3"]["status"] == "pass"


def test_window_before_the_first_frame_uses_the_nearest_frame(settings):
    ctx = make_ctx(settings, frames(every(0.5, 30, start=1.0)), 30,
                   required=[("hello", True, match("hello", 0.1, 0.4))])
    item = items_by_id(face_key_moments.run(ctx))["hello"]
    assert item["status"] == "pass" and "nearest at 1.0 s" in item["note"]


def test_no_picture_at_the_moment_fails(settings):
    # The video ends at 10 s but the confirmation is heard at 40 s (longer audio).
    ctx = make_ctx(settings, frames(every(0.5, 10)), 60,
                   questions=[("willing-to-buy", True, match("willing-to-buy", 40.0, 44.0))])
    r = face_key_moments.run(ctx)
    item = items_by_id(r)["willing-to-buy"]
    assert r.status == "fail" and item["samples"] == 0
    assert "no video frame within 8 s" in item["note"]


def test_no_frames_is_an_error(settings):
    ctx = make_ctx(settings, [], 10, required=[("x", True, match("x", 1, 2))])
    assert face_key_moments.run(ctx).status == "error"


# ---------------------------------------------------------------- face.extra_person

def test_no_third_person_passes(settings):
    r = face_extra_person.run(make_ctx(settings, frames(every(0.5, 60)), 60))
    assert (r.status, r.severity, r.message) == ("pass", "major", "no third person in frame")
    assert r.evidence == []


def test_someone_walking_past_passes_with_evidence(settings):
    r = face_extra_person.run(make_ctx(
        settings, frames(every(0.5, 60), third=lambda t: 20 <= t < 22.5), 60))
    assert r.status == "pass" and "only briefly" in r.message
    [ev] = r.evidence
    assert (ev["start_s"], ev["end_s"]) == (20.0, 22.5)
    assert "1 third face identifiable for 2.5 s" in ev["detail"]


def test_third_person_standing_by_fails_on_the_continuous_limit(settings):
    r = face_extra_person.run(make_ctx(
        settings, frames(every(0.5, 60), third=lambda t: 30 <= t < 37), 60))
    assert r.status == "fail"
    assert "7.0 s continuously (00:00:30-00:00:37; allowed 5 s)" in r.message
    [ev] = r.evidence
    assert (ev["start_s"], ev["end_s"]) == (30.0, 37.0) and "longer than allowed" in ev["detail"]


def test_continuous_limit_is_exclusive(settings):
    at = face_extra_person.run(make_ctx(
        settings, frames(every(0.5, 60), third=lambda t: 30 <= t < 35), 60))
    over = face_extra_person.run(make_ctx(
        settings, frames(every(0.5, 60), third=lambda t: 30 <= t < 35.5), 60))
    assert (at.status, over.status) == ("pass", "fail")


def test_a_third_person_in_and_out_of_frame_fails_on_the_total(settings):
    # 3 s in every 10 s for 100 s: never 5 s at a time, 30 s in total.
    r = face_extra_person.run(make_ctx(
        settings, frames(every(0.5, 100), third=lambda t: t % 10 < 3), 100))
    assert r.status == "fail"
    assert "30.0 s in total in 10 stretch(es) (allowed 20 s)" in r.message
    assert "continuously" not in r.message
    assert len(r.evidence) == 10


def test_short_glimpses_are_not_listed_unless_they_add_up(settings):
    r = face_extra_person.run(make_ctx(
        settings, frames(every(0.5, 60), third=lambda t: t in (10.0, 40.0)), 60))
    assert r.status == "pass" and r.evidence == []
    r = face_extra_person.run(make_ctx(
        settings, frames(every(0.5, 60), third=lambda t: t in (10.0, 40.0)), 60,
        extra_person_max_total_s=0.5))
    assert r.status == "fail" and len(r.evidence) == 2


def test_extra_person_without_frames_is_an_error(settings):
    assert face_extra_person.run(make_ctx(settings, [], 10)).status == "error"


def test_the_phrase_itself_not_its_whole_segment_is_the_moment(settings):
    # Whisper put three sentences in one 15 s segment; the disclosure was the middle
    # 4 s, exactly when the customer was away. Over the whole segment she is there 73%.
    m = match("not-deposit", 10.0, 25.0)
    m.spoken_start_s, m.spoken_end_s = 15.0, 19.0
    ctx = make_ctx(settings, frames(every(0.5, 30), customer=lambda t: not 15 <= t < 19), 30,
                   required=[("not-deposit", True, m)])
    r = face_key_moments.run(ctx)
    assert r.status == "fail"
    assert items_by_id(r)["not-deposit"]["window"] == [15.0, 19.0]
