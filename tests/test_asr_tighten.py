"""verifier.asr.tighten: segment edges that faster-whisper's VAD put on the far side of
a long silence are moved back onto the sound (no speech model needed)."""
import numpy as np

from verifier.asr import SAMPLE_RATE, tighten
from verifier.transcript import Segment


def track(*parts):
    """(seconds, loudness) pieces: room tone, plus a 220 Hz tone of that amplitude for
    speech (True: 0.2)."""
    rng = np.random.default_rng(3)
    out = []
    for secs, loud in parts:
        n = int(secs * SAMPLE_RATE)
        x = rng.normal(0, 0.002, n)
        if loud:
            x += (0.2 if loud is True else loud) * np.sin(2 * np.pi * 220 * np.arange(n) / SAMPLE_RATE)
        out.append(x)
    return np.concatenate(out).astype(np.float32)


def test_segment_starting_before_a_long_silence_starts_at_the_sound():
    # sound 1-4 s, silence 4-17 s, sound 17-21 s; whisper put the second segment at 4 s
    audio = track((1, False), (3, True), (13, False), (4, True), (1, False))
    segs = [Segment(0.9, 4.0, "第一句", "staff"), Segment(4.0, 21.2, "第二句", "staff")]
    first, second = tighten(segs, audio, 0.0)
    assert first == segs[0]                       # nothing to cut: unchanged
    assert 16.6 <= second.start_s <= 17.0 and second.end_s == 21.2
    assert (second.text, second.speaker) == ("第二句", "staff")


def test_trailing_silence_is_cut_and_times_follow_the_chunk_clock():
    audio = track((0.5, False), (3, True), (6, False))
    [seg] = tighten([Segment(100.4, 109.5, "一句", "unknown")], audio, start_s=100.0)
    assert seg.start_s == 100.4 and 103.5 <= seg.end_s <= 103.9


def test_short_pauses_and_silent_segments_are_left_alone():
    audio = track((1, False), (2, True), (1.0, False), (2, True), (1, False))
    segs = [Segment(1.0, 6.0, "两句", "unknown"), Segment(6.5, 7.0, "嗯", "unknown")]
    assert tighten(segs, audio) == segs


def test_the_other_person_heard_faintly_is_not_this_segments_voice():
    # Two microphones: on the seller's channel the customer's 3 s answer is heard 26 dB
    # down between the seller's question and the next one; whisper started the next
    # question's segment at the end of the first.
    audio = track((1, False), (4, True), (0.6, False), (3, 0.01), (0.6, False), (4, True),
                  (1, False))
    segs = [Segment(0.9, 5.0, "第一问", "staff"), Segment(5.0, 13.3, "第二问", "staff")]
    first, second = tighten(segs, audio)
    assert first == segs[0]
    assert 8.8 <= second.start_s <= 9.3 and second.end_s == 13.3


def test_the_previous_lines_last_syllable_does_not_keep_the_silence_in():
    # corpus face-customer-absent, whisper on a generic CPU: the question's segment began
    # 0.15 s before the previous line ended, then 13.5 s of silence, then the question
    audio = track((1, False), (3.15, True), (13.5, False), (4, True), (1, False))
    segs = [Segment(0.9, 4.0, "我接个电话", "unknown"), Segment(4.0, 21.5, "您是否", "unknown")]
    first, second = tighten(segs, audio)
    assert first == segs[0]
    assert 17.2 <= second.start_s <= 17.7 and second.end_s == 21.5
    # ... and the next line's first syllable at the end
    audio = track((1, False), (3, True), (13.5, False), (0.3, True), (1, False))
    [seg] = tighten([Segment(0.9, 17.8, "一句", "unknown")], audio)
    assert seg.start_s == 0.9 and 4.0 <= seg.end_s <= 4.4


def test_a_short_word_alone_in_its_segment_is_kept():
    audio = track((1, False), (0.3, True), (1, False))
    segs = [Segment(1.0, 1.3, "好", "unknown")]
    assert tighten(segs, audio) == segs


def test_a_segment_joined_across_a_long_pause_is_split_at_a_clause_break():
    # corpus face-staff-absent, whisper on a generic CPU: two lines either side of the
    # seller's 13 s absence came back as one segment timed over both and the pause
    audio = track((1, False), (3, True), (13, False), (3, True), (1, False))
    [seg] = [Segment(0.9, 20.2, "本金及收益风险由投资者自行承担，您是否已经阅读并理解", "unknown")]
    first, second = tighten([seg], audio)
    assert first.text == "本金及收益风险由投资者自行承担，" and second.text == "您是否已经阅读并理解"
    assert first.start_s == 0.9 and 3.9 <= first.end_s <= 4.4
    assert 16.6 <= second.start_s <= 17.0 and second.end_s == 20.2
    assert first.speaker == second.speaker == "unknown"
    # no clause break to cut at: one segment, as whisper gave it
    whole = Segment(0.9, 20.2, "本金及收益风险由投资者自行承担您是否已经阅读并理解", "staff")
    assert tighten([whole], audio) == [whole]


def test_each_long_pause_splits_once_at_the_break_nearest_its_share_of_the_speech():
    audio = track((1, False), (2, True), (5, False), (2, True), (5, False), (4, True),
                  (1, False))
    seg = Segment(1.0, 19.0, "一二三四，五六七八，九十一二三四五六七八。", "staff")
    pieces = tighten([seg], audio)
    assert [p.text for p in pieces] == ["一二三四，", "五六七八，", "九十一二三四五六七八。"]
    assert [p.start_s for p in pieces][1:] == sorted(p.start_s for p in pieces[1:])
    assert all(a.end_s <= b.start_s for a, b in zip(pieces, pieces[1:]))
