"""verifier.sidecar against hostile or broken sidecars: whatever the file holds, the result
is a Sidecar or a SidecarError naming the field (never another exception: `dualrec verify`
would exit 1 instead of 2, the batch would mark the recording failed instead of rejected),
and no message shows the customer's ID number or name in clear."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures import DUALREC, SIDECAR_CUSTOMER_ID, VALID_SIDECAR
from verifier.privacy import mask_id, mask_name
from verifier.sidecar import MAX_DEPTH, MAX_SIDECAR_BYTES, Sidecar, SidecarError, load_sidecar

CUSTOMER_ID = SIDECAR_CUSTOMER_ID
NAME = VALID_SIDECAR["customer_name"]
# no separate audio file, no ruleset named: the fields under test stand alone
VALID = {k: v for k, v in VALID_SIDECAR.items() if k not in ("audio_file", "ruleset")}

BIG_INT = "9" * 5000  # past Python's 4300-digit int-to-string limit
MID_INT = "9" * 400  # an int, but too large for a float


def _raw_with(field: str, raw_value: str, base: dict = VALID) -> str:
    """The sidecar's JSON text with `field` set to `raw_value`, spelled as given (json.dumps
    cannot write 1e400, NaN inside strict JSON, or a 5000-digit integer)."""
    data = {k: v for k, v in base.items() if k != field}
    text = json.dumps(data, ensure_ascii=False)
    return text[:-1] + f", {json.dumps(field)}: {raw_value}}}"


def _write(folder: Path, raw: str | bytes, stem: str = "BR1") -> Path:
    media = folder / f"{stem}.mp4"
    media.write_bytes(b"\0")
    (folder / f"{stem}.json").write_bytes(raw.encode("utf-8") if isinstance(raw, str) else raw)
    return media


def _error(folder: Path, raw: str | bytes, stem: str = "BR1") -> SidecarError:
    with pytest.raises(SidecarError) as exc:
        load_sidecar(_write(folder, raw, stem))
    return exc.value


def _assert_clean(err: SidecarError) -> str:
    """What every SidecarError message must be: one line, valid UTF-8, no personal data."""
    msg = str(err)
    msg.encode("utf-8")  # a lone surrogate here would break stderr, logs and the database
    assert "\n" not in msg and "Traceback" not in msg and "pydantic" not in msg.lower()
    for clear in (CUSTOMER_ID, CUSTOMER_ID[:-1], NAME):
        assert clear not in msg, msg
    return msg


# --------------------------------------------------------------------------- numbers

NUMBERS = [
    # field, value as spelled in the file, words of the message after "<field>: "
    ("audio_offset_s", "1e400", "number too large"),
    ("audio_offset_s", "-1e400", "number too large"),
    ("audio_offset_s", BIG_INT, "number too large"),
    ("audio_offset_s", "-" + BIG_INT, "number too large"),
    ("audio_offset_s", MID_INT, "number too large"),
    ("audio_offset_s", "NaN", "NaN is not a finite number"),
    ("audio_offset_s", "Infinity", "Infinity is not a finite number"),
    ("audio_offset_s", "-Infinity", "-Infinity is not a finite number"),
    ("audio_channels", '{"staff": ' + BIG_INT + ', "customer": 1}', "staff: number too large"),
    ("audio_channels", '{"staff": 0, "customer": 1e400}', "customer: number too large"),
    ("audio_channels", '{"staff": NaN, "customer": 1}', "staff: NaN is not a finite number"),
    ("staff_id", BIG_INT, "number too large"),  # a huge int where a string is expected
    ("recording_id", BIG_INT, "number too large"),
    ("customer_id", BIG_INT, "number too large"),
    ("customer_id", "1e400", "number too large"),
    ("customer_name", MID_INT, "number too large"),
    ("product_risk_level", "1e400", "number too large"),
    ("sale_time", BIG_INT, "number too large"),
    ("maturity_date", BIG_INT, "number too large"),
    ("ruleset", "-1e999", "number too large"),
    ("operator_note", BIG_INT, "number too large"),  # extra fields are kept: checked too
    ("operator_note", '{"a": [1, NaN]}', "a[1]: NaN is not a finite number"),
    ("operator_note", "[" + "1e400, " * 3 + "1]", "[0]: number too large"),
    ("maturity_date", json.dumps(BIG_INT + "-01-01"), "out of range"),  # a string, but a huge year
]


@pytest.mark.parametrize("field, raw_value, words", NUMBERS,
                         ids=[f"{f}={v[:16]}" for f, v, _ in NUMBERS])
def test_unusable_numbers_are_named(tmp_path, field, raw_value, words):
    err = _error(tmp_path, _raw_with(field, raw_value))
    msg = _assert_clean(err)
    assert err.field == field
    assert msg.startswith(f"sidecar BR1.json: {field}: ") and words in msg, msg
    assert len(msg) < 300  # the value is never quoted at length


def test_large_but_holdable_numbers_still_get_the_field_check(tmp_path):
    # within 64 bits: the field's own check speaks, quoting the value
    err = _error(tmp_path, _raw_with("audio_channels", '{"staff": 9223372036854775807, "customer": 1}'))
    assert "channel must be 0..7, got 9223372036854775807" in _assert_clean(err)
    err = _error(tmp_path, _raw_with("audio_offset_s", "1e300"))
    assert "audio_offset_s: must be within ±3600 s" in _assert_clean(err)


def test_several_fields_with_unusable_values_are_all_reported(tmp_path):
    raw = _raw_with("audio_offset_s", "1e400", base={**VALID, "staff_id": 1.5})
    raw = raw[:-1] + ', "note": "\\udfff"}'
    err = _error(tmp_path, raw)
    assert [f for f, _ in err.problems] == ["audio_offset_s", "note"]


def test_many_bad_fields_make_a_bounded_message(tmp_path):
    raw = json.dumps(VALID)[:-1] + "".join(f', "x{i}": NaN' for i in range(5000)) + "}"
    err = _error(tmp_path, raw)
    assert len(err.problems) == 11 and "4990 more fields with problems" in str(err)


def test_from_dict_checks_python_values_too():
    # ingest passes dicts built in code: the same problems, the same errors
    with pytest.raises(SidecarError, match="audio_offset_s: number too large"):
        Sidecar.from_dict({**VALID, "recording_id": "r1", "audio_offset_s": 10 ** 5000})
    with pytest.raises(SidecarError, match="audio_offset_s: inf is not a finite number"):
        Sidecar.from_dict({**VALID, "recording_id": "r1", "audio_offset_s": float("inf")})
    with pytest.raises(SidecarError, match=r"customer_name: not valid Unicode text \(lone surrogate\)"):
        Sidecar.from_dict({**VALID, "recording_id": "r1", "customer_name": "张\ud800"})
    loop: list = []
    loop.append(loop)  # a cycle: stopped by the depth limit, no endless walk
    with pytest.raises(SidecarError, match="note: .*nested too deeply"):
        Sidecar.from_dict({**VALID, "recording_id": "r1", "note": loop})


# --------------------------------------------------------------------------- text

SURROGATE_FIELDS = ["customer_name", "customer_id", "staff_id", "branch_id", "recording_id",
                    "product_name", "product_code", "audio_file", "ruleset", "sale_time",
                    "maturity_date", "product_category", "product_risk_level", "operator_note"]


@pytest.mark.parametrize("field", SURROGATE_FIELDS)
@pytest.mark.parametrize("value", ['"\\ud800"', '"ab\\udc00cd"', '"\\ude00\\ud83d"'],
                         ids=["high", "low", "reversed-pair"])
def test_lone_surrogate_is_named(tmp_path, field, value):
    err = _error(tmp_path, _raw_with(field, value))
    msg = _assert_clean(err)
    assert err.field == field
    assert msg == f"sidecar BR1.json: {field}: not valid Unicode text (lone surrogate)"


def test_a_proper_surrogate_pair_is_fine(tmp_path):
    media = _write(tmp_path, _raw_with("product_name", '"理财\\ud83d\\ude00"'))
    assert load_sidecar(media).product_name == "理财😀"


def test_lone_surrogate_in_a_field_name_or_key(tmp_path):
    err = _error(tmp_path, _raw_with("x\udc00y", "1"))
    msg = _assert_clean(err)
    assert msg == "sidecar BR1.json: x\\udc00y: field name is not valid Unicode text (lone surrogate)"
    err = _error(tmp_path, _raw_with("audio_channels", '{"\\ud800": 0, "customer": 1}'))
    assert "audio_channels: \\ud800: key is not valid Unicode text" in _assert_clean(err)
    assert err.field == "audio_channels"


def test_control_characters_in_a_field_name_are_escaped(tmp_path):
    raw = json.dumps(VALID)[:-1] + ', "a\\nb": 1, "a\\nb": 2}'
    err = _error(tmp_path, raw)
    assert _assert_clean(err) == "sidecar BR1.json: a\\nb: appears more than once in the JSON object"


@pytest.mark.parametrize("kind, raw", [
    ("latin1", '{"customer_name": "Jos\xe9"}'.encode("latin-1")),
    ("utf16", json.dumps(VALID).encode("utf-16")),
    ("encoded_surrogate", b'{"customer_name": "\xed\xa0\x80"}'),  # CESU-8, not UTF-8
    ("gb18030", json.dumps(VALID, ensure_ascii=False).encode("gb18030")),
])
def test_not_utf8(tmp_path, kind, raw):
    err = _error(tmp_path, raw)
    assert err.field is None and "is not UTF-8 text" in _assert_clean(err)


# --------------------------------------------------------------------------- structure


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 500, 10000, 50000])
def test_deeply_nested_value_is_named(tmp_path, depth):
    err = _error(tmp_path, _raw_with("operator_note", "[" * depth + "]" * depth))
    assert err.field == "operator_note"
    assert f"operator_note: nested too deeply (more than {MAX_DEPTH} levels)" in _assert_clean(err)
    err = _error(tmp_path, _raw_with("audio_channels", '{"staff": ' * depth + "0" + "}" * depth))
    assert err.field == "audio_channels" and "nested too deeply" in str(err)


def test_nesting_within_the_limit_is_kept(tmp_path):
    media = _write(tmp_path, _raw_with("operator_note", "[" * MAX_DEPTH + "]" * MAX_DEPTH))
    assert load_sidecar(media).model_extra["operator_note"] is not None


def test_deep_nesting_at_the_top_level(tmp_path):
    err = _error(tmp_path, "[" * 10000 + "]" * 10000)
    assert err.field is None and "nested too deeply" in _assert_clean(err)


@pytest.mark.parametrize("raw, kind", [
    (BIG_INT, "a number"), ("1e400", "a number"), ("NaN", "a number"), ("-Infinity", "a number"),
    ('"\\ud800"', "a string"), ("[]", "a list"), ("true", "a boolean"), ("null", "null"),
])
def test_top_level_not_an_object(tmp_path, raw, kind):
    err = _error(tmp_path, raw)
    assert err.field is None
    assert _assert_clean(err) == f"sidecar BR1.json: must be a JSON object {{...}} at the top level, got {kind}"


def test_huge_file_is_refused_before_it_is_read(tmp_path, monkeypatch):
    media = _write(tmp_path, "")
    with open(tmp_path / "BR1.json", "wb") as f:
        f.truncate(4 * 1024 ** 3)  # 4 GiB, sparse: reading it whole would exhaust memory
    import builtins
    real_open = builtins.open

    def no_open(path, *a, **kw):
        assert Path(path).name != "BR1.json", "the oversized sidecar was opened"
        return real_open(path, *a, **kw)

    monkeypatch.setattr(builtins, "open", no_open)
    with pytest.raises(SidecarError) as exc:
        load_sidecar(media)
    assert exc.value.field is None
    assert f"file is too large ({4 * 1024 ** 3} bytes; the limit is 1 MiB)" in str(exc.value)


def test_file_at_the_limit_is_read(tmp_path):
    text = json.dumps({**VALID, "pad": ""})
    text = text.replace('"pad": ""', '"pad": "' + "x" * (MAX_SIDECAR_BYTES - len(text)) + '"')
    assert len(text) == MAX_SIDECAR_BYTES
    assert load_sidecar(_write(tmp_path, text)).branch_id == "BR001"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_sidecar_is_refused_without_waiting(tmp_path):
    media = tmp_path / "BR1.mp4"
    media.write_bytes(b"\0")
    fifo = tmp_path / "BR1.json"
    os.mkfifo(fifo)
    outcome: list = []
    worker = threading.Thread(target=lambda: outcome.append(_outcome(media)), daemon=True)
    worker.start()
    worker.join(10)
    if worker.is_alive():  # blocked opening the FIFO: let it go, then fail
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(10)
        pytest.fail("load_sidecar waited on a FIFO")
    assert isinstance(outcome[0], SidecarError) and "not a regular file" in str(outcome[0])


def _outcome(media: Path):
    try:
        return load_sidecar(media)
    except Exception as e:  # noqa: BLE001 - the test looks at what came out
        return e


# --------------------------------------------------------------------------- privacy

MISPLACED = [
    # field, value: the customer's data where it does not belong; words of the message
    ("staff_id", CUSTOMER_ID, "must not contain the customer's ID number: staff ids are shown unmasked"),
    ("staff_id", "S-" + CUSTOMER_ID.lower(), "must not contain the customer's ID number"),
    ("staff_id", "S" + NAME, "must not contain the customer's name: staff ids are shown unmasked"),
    ("recording_id", CUSTOMER_ID, "must not contain the customer's ID number: recording ids are shown "
                                  "unmasked in reports and logs"),
    ("recording_id", "BR001-" + CUSTOMER_ID + "-7", "must not contain the customer's ID number"),
    ("recording_id", NAME + "-001", "must not contain the customer's name"),
    # invalid values quoting the customer's data: masked
    ("recording_id", CUSTOMER_ID + " x", f"got '{mask_id(CUSTOMER_ID)} x'"),
    ("recording_id", "a b" + "x" * 22 + CUSTOMER_ID, "letters, digits"),  # cut short after masking
    ("branch_id", int(CUSTOMER_ID), f"must be a string, got {mask_id(CUSTOMER_ID)}"),
    ("product_code", [CUSTOMER_ID], "must be a string, got a list"),
    ("product_risk_level", "R" + CUSTOMER_ID, "must be one of R1..R5, got 'R1101*"),
    ("customer_risk_level", NAME, f"must be one of C1..C5, got '{mask_name(NAME)}'"),
    ("product_category", CUSTOMER_ID, f"got '{mask_id(CUSTOMER_ID)}'"),
    ("sale_time", CUSTOMER_ID, f"got '{mask_id(CUSTOMER_ID)}'"),
    ("sale_time", int(CUSTOMER_ID), "ISO 8601"),
    ("maturity_date", CUSTOMER_ID + "-01-01", f"year {mask_id(CUSTOMER_ID)} is out of range"),
    ("maturity_date", CUSTOMER_ID, f"got '{mask_id(CUSTOMER_ID)}'"),
    ("audio_file", "/in/" + CUSTOMER_ID + ".wav", "not absolute"),
    ("audio_file", CUSTOMER_ID + ".wav", f"file not found: {mask_id(CUSTOMER_ID)}.wav"),
    ("audio_offset_s", CUSTOMER_ID, f"got '{mask_id(CUSTOMER_ID)}'"),
    ("audio_channels", {NAME: 0, "customer": 1}, mask_name(NAME)),
    ("audio_channels", {"staff": int(CUSTOMER_ID), "customer": 1}, f"got {mask_id(CUSTOMER_ID)}"),
    ("ruleset", "x/" + CUSTOMER_ID, "path separators"),
    # the customer's own fields, invalid: never quoted at all
    ("customer_id", int(CUSTOMER_ID), "must be a string, got a number"),
    ("customer_id", "1\n" + CUSTOMER_ID, "control characters"),
    ("customer_id", [CUSTOMER_ID], "must be a string, got a list"),
    ("customer_name", {"zh": NAME}, "must be a string, got an object"),
    ("customer_name", NAME * 100, "too long"),
]


@pytest.mark.parametrize("field, value, words", MISPLACED,
                         ids=[f"{f}-{i}" for i, (f, _, _) in enumerate(MISPLACED)])
def test_personal_data_is_never_shown(tmp_path, field, value, words):
    err = _error(tmp_path, json.dumps({**VALID, field: value}, ensure_ascii=False))
    msg = _assert_clean(err)
    assert err.field == field
    assert msg.startswith(f"sidecar BR1.json: {field}: ") and words in msg, msg


def test_the_id_number_given_as_a_number_is_still_the_customers(tmp_path):
    data = {**VALID, "customer_id": int(CUSTOMER_ID), "staff_id": CUSTOMER_ID}
    err = _error(tmp_path, json.dumps(data))
    _assert_clean(err)
    assert [f for f, _ in err.problems] == ["staff_id", "customer_id"]


def test_short_personal_values_do_not_refuse_ordinary_ids(tmp_path):
    # a one-character name, a three-character "ID": too short to mean anything elsewhere
    data = {**VALID, "customer_id": "S00", "customer_name": "王", "staff_id": "S0042",
            "recording_id": "王-S00-1"}
    assert load_sidecar(_write(tmp_path, json.dumps(data, ensure_ascii=False))).staff_id == "S0042"


def test_recording_id_from_the_media_file_name(tmp_path):
    # no recording_id: the default, the media file's stem, is the customer's ID number
    err = _error(tmp_path, json.dumps(VALID, ensure_ascii=False), stem=CUSTOMER_ID)
    msg = _assert_clean(err)
    assert err.field == "recording_id" and err.path.name == f"{CUSTOMER_ID}.json"
    assert msg.startswith(f"sidecar {mask_id(CUSTOMER_ID)}.json: recording_id: not given, and the media "
                          f"file name '{mask_id(CUSTOMER_ID)}' cannot be used as one: must not contain "
                          "the customer's ID number"), msg
    assert err.display_id == mask_id(CUSTOMER_ID)  # what to show the recording as instead
    err = _error(tmp_path, json.dumps(VALID, ensure_ascii=False), stem=f"{NAME}-20261121")
    assert "must not contain the customer's name" in _assert_clean(err)
    assert err.display_id == f"{mask_name(NAME)}-20261121"
    # a recording_id given in the sidecar is fine
    ok = json.dumps({**VALID, "recording_id": "BR001-0007"}, ensure_ascii=False)
    assert load_sidecar(_write(tmp_path, ok, stem=CUSTOMER_ID)).recording_id == "BR001-0007"


def test_field_names_and_duplicate_keys_are_masked(tmp_path):
    raw = _raw_with(CUSTOMER_ID, "NaN")
    err = _error(tmp_path, raw)
    assert err.field == mask_id(CUSTOMER_ID) and _assert_clean(err)
    raw = json.dumps(VALID, ensure_ascii=False)[:-1] + f', "{NAME}": 1, "{NAME}": 2}}'
    err = _error(tmp_path, raw)
    assert err.field == mask_name(NAME) and "appears more than once" in _assert_clean(err)


def test_model_validate_masks_too():
    # bypassing from_dict: the validators still know the customer's data
    from pydantic import ValidationError
    with pytest.raises(ValidationError) as exc:
        Sidecar.model_validate({**VALID, "recording_id": "r1", "staff_id": CUSTOMER_ID,
                                "sale_time": CUSTOMER_ID})
    assert CUSTOMER_ID not in str(exc.value.errors(include_input=False))


_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers(-10 ** 30, 10 ** 30)
    | st.text(st.characters() | st.characters(categories=["Cs"]), max_size=8) | st.sampled_from([CUSTOMER_ID, NAME]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=8)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields=st.dictionaries(st.sampled_from(list(VALID) + ["recording_id", "audio_file", "ruleset",
                                                             "note"]), _values, max_size=3),
       drop=st.sets(st.sampled_from(list(VALID)), max_size=2))
def test_any_values_give_a_sidecar_or_a_clean_error(fields, drop):
    data = {k: v for k, v in VALID.items() if k not in drop} | fields
    with tempfile.TemporaryDirectory() as d:
        media = _write(Path(d), json.dumps(data))  # lone surrogates written as \ud800 escapes
        try:
            load_sidecar(media)
        except SidecarError as e:
            msg = str(e)
            msg.encode("utf-8")
            assert "\n" not in msg
            if data.get("customer_id") == CUSTOMER_ID:
                assert CUSTOMER_ID not in msg
            if data.get("customer_name") == NAME:
                assert NAME not in msg


# --------------------------------------------------------------------------- the command line
# slow: each encodes a (tiny) video and starts the command line


@pytest.fixture(scope="module")
def tiny_media(tmp_path_factory) -> Path:
    """One second of a 64x64 test picture with a tone: `verify` reads the sidecar first."""
    media = tmp_path_factory.mktemp("media") / "BR1.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x64:rate=5",
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000", "-t", "1",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
                    str(media)], check=True, timeout=60)
    return media


CLI_CASES = [
    ("audio_offset_s", "1e400", "audio_offset_s: number too large"),
    ("audio_offset_s", BIG_INT, "audio_offset_s: number too large"),
    ("staff_id", BIG_INT, "staff_id: number too large"),
    ("audio_offset_s", "NaN", "audio_offset_s: NaN is not a finite number"),
    ("customer_name", '"\\ud800"', "customer_name: not valid Unicode text (lone surrogate)"),
    ("operator_note", "[" * 10000 + "]" * 10000, "operator_note: nested too deeply"),
    ("staff_id", json.dumps(CUSTOMER_ID), "staff_id: must not contain the customer's ID number"),
    ("recording_id", json.dumps("R-" + CUSTOMER_ID), "recording_id: must not contain the customer's ID"),
    ("branch_id", CUSTOMER_ID, f"branch_id: must be a string, got {mask_id(CUSTOMER_ID)}"),
]


@pytest.mark.slow
@pytest.mark.parametrize("field, raw_value, words", CLI_CASES, ids=[w[:40] for _, _, w in CLI_CASES])
def test_verify_exits_2_naming_the_field(tmp_path, tiny_media, field, raw_value, words):
    meta = tmp_path / "meta.json"
    meta.write_text(_raw_with(field, raw_value), encoding="utf-8")
    r = subprocess.run([DUALREC, "verify", str(tiny_media), "--meta", str(meta)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and words in r.stderr, r.stderr
    assert CUSTOMER_ID not in r.stdout + r.stderr and NAME not in r.stdout + r.stderr


@pytest.mark.slow
def test_verify_json_report_of_a_bad_sidecar(tmp_path, tiny_media):
    meta = tmp_path / "meta.json"
    meta.write_text(_raw_with("audio_offset_s", BIG_INT), encoding="utf-8")
    r = subprocess.run([DUALREC, "verify", str(tiny_media), "--meta", str(meta), "--json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    report = json.loads(r.stdout)
    assert report["verdict"] == "error"
    sidecar_check = next(c for c in report["checks"] if c["id"] == "metadata.sidecar")
    assert "audio_offset_s: number too large" in sidecar_check["message"]


@pytest.mark.slow
def test_a_media_file_named_after_the_customer_is_reported_masked(tmp_path, tiny_media):
    """No recording_id in the sidecar and the media file is named by the customer's ID:
    the error report names the recording by the masked stem, never the clear one."""
    import shutil

    media = tmp_path / f"{CUSTOMER_ID}.mp4"
    shutil.copy(tiny_media, media)
    (tmp_path / f"{CUSTOMER_ID}.json").write_text(json.dumps(VALID, ensure_ascii=False),
                                                  encoding="utf-8")
    r = subprocess.run([DUALREC, "verify", str(media), "--json"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert json.loads(r.stdout)["recording_id"] == mask_id(CUSTOMER_ID)
    assert CUSTOMER_ID not in r.stdout


def test_a_file_name_that_is_not_utf8_gives_a_printable_message(tmp_path):
    stem = os.fsdecode(b"BR\xff1")  # a Linux file name in a legacy encoding: '\udcff' inside
    err = _error(tmp_path, json.dumps(VALID, ensure_ascii=False), stem=stem)
    msg = _assert_clean(err)
    assert err.field == "recording_id" and "\\udcff" in msg
    with pytest.raises(SidecarError) as exc:
        load_sidecar(tmp_path / f"{stem}.mp4", tmp_path / f"{stem}-missing.json")
    _assert_clean(exc.value)
