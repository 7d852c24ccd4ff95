"""verifier.sidecar (CONTRACT section 1) and verifier.privacy."""

from __future__ import annotations

import json
import os
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fixtures import SIDECAR_CUSTOMER_ID, VALID_SIDECAR
from verifier.privacy import mask_id, mask_name
from verifier.sidecar import MAX_SIDECAR_BYTES, Sidecar, SidecarError, load_sidecar, sidecar_path_for

CUSTOMER_ID = SIDECAR_CUSTOMER_ID
VALID = VALID_SIDECAR

MISSING = object()


def _write(folder: Path, data, name: str = "BR1", *, raw: str | bytes | None = None) -> Path:
    """Create <name>.mp4 (placeholder), <name>.wav and the sidecar; return the media path."""
    media = folder / f"{name}.mp4"
    media.write_bytes(b"\0")
    (folder / "BR1.wav").write_bytes(b"\0")
    meta = folder / f"{name}.json"
    if raw is not None:
        meta.write_bytes(raw.encode() if isinstance(raw, str) else raw)
    else:
        meta.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return media


def _with(field: str, value) -> dict:
    data = dict(VALID)
    if value is MISSING:
        data.pop(field, None)
    else:
        data[field] = value
    return data


def test_valid_sidecar_loads(tmp_path):
    media = _write(tmp_path, {**VALID, "product_risk_level": " r3 ", "operator_note": {"k": [1, 2]}})
    sc = load_sidecar(media)
    assert sc.recording_id == "BR1"  # defaults to the media stem
    assert sc.customer_id == CUSTOMER_ID and sc.customer_name == "张三丰"
    assert sc.product_category == "wealth"
    assert sc.product_risk_level == "R3" and sc.customer_risk_level == "C4"
    assert sc.sale_time == datetime(2026, 11, 21, 2, 15, tzinfo=timezone.utc)
    assert sc.sale_time.utcoffset() == timedelta(hours=8)
    assert sc.maturity_date == date(2027, 11, 21)
    assert sc.audio_offset_s == -0.25
    assert sc.audio_channels == {"staff": 0, "customer": 1}
    assert sc.ruleset == "wealth-standard"
    assert sc.audio_path == (tmp_path / "BR1.wav").resolve() and sc.audio_path.is_absolute()
    assert sc.source_path == (tmp_path / "BR1.json").absolute()
    assert sc.model_extra == {"operator_note": {"k": [1, 2]}}  # extra fields kept
    # personal data masked in repr and in the masked dump
    assert CUSTOMER_ID not in repr(sc) and "张三丰" not in repr(sc)
    dumped = sc.masked_dump()
    assert dumped["customer_id"] == "1101**********1234" and dumped["customer_name"] == "张**"
    assert dumped["sale_time"] == "2026-11-21T10:15:00+08:00" and dumped["operator_note"] == {"k": [1, 2]}


def test_minimal_sidecar_and_explicit_meta_path(tmp_path):
    data = {k: v for k, v in VALID.items()
            if k not in ("customer_name", "audio_file", "audio_offset_s", "audio_channels", "ruleset")}
    data["maturity_date"] = None  # open-ended product
    data["recording_id"] = "BR001-20261121-0007"
    media = _write(tmp_path, {})
    meta = tmp_path / "elsewhere.json"
    meta.write_text(json.dumps(data))
    sc = load_sidecar(media, meta)
    assert sc.recording_id == "BR001-20261121-0007"
    assert sc.maturity_date is None and sc.customer_name is None and sc.ruleset is None
    assert sc.audio_file is None and sc.audio_path is None
    assert sc.audio_offset_s == 0.0 and sc.audio_channels is None
    assert sidecar_path_for("/x/y/BR1.mp4") == Path("/x/y/BR1.json")
    assert sidecar_path_for("/x/y/a.b.mkv") == Path("/x/y/a.b.json")


def test_unicode_stem_is_a_fine_recording_id(tmp_path):
    media = _write(tmp_path, VALID, name="网点001-双录")
    assert load_sidecar(media).recording_id == "网点001-双录"


BAD_VALUES = [
    # field, value, words the message must contain
    ("recording_id", "a/b", "path separators"),
    ("recording_id", "..", "must not start with '.'"),
    ("recording_id", ".hidden", "must not start with '.'"),
    ("recording_id", "../../etc/passwd", "path separators"),
    ("recording_id", "a b", "letters, digits"),
    ("recording_id", "", "must not be empty"),
    ("recording_id", "x" * 129, "too long"),
    ("recording_id", 7, "must be a string"),
    ("branch_id", MISSING, "required field is missing"),
    ("branch_id", None, "must be a string, got null"),
    ("branch_id", 12, "must be a string, got 12"),
    ("branch_id", "   ", "must not be empty"),
    ("staff_id", MISSING, "required field is missing"),
    ("staff_id", "S1\nS2", "control characters"),
    ("customer_id", MISSING, "required field is missing"),
    ("customer_id", 110101199003071234, "must be a string, got a number"),
    ("customer_id", "", "must not be empty"),
    ("customer_name", 5, "must be a string"),
    ("customer_name", "", "must not be empty"),
    ("product_code", MISSING, "required field is missing"),
    ("product_code", ["WM1"], "must be a string, got a list"),
    ("product_name", MISSING, "required field is missing"),
    ("product_name", {"zh": "理财"}, "must be a string, got an object"),
    ("product_name", "理" * 513, "too long (513 characters; at most 512)"),
    ("product_code", "W" * 129, "too long (129 characters; at most 128)"),
    ("product_category", MISSING, "required field is missing"),
    ("product_category", "loan", "must be one of wealth, agency_fund"),
    ("product_category", None, "must be one of"),
    ("product_risk_level", MISSING, "required field is missing"),
    ("product_risk_level", "R9", "must be one of R1..R5, got 'R9'"),
    ("product_risk_level", "R0", "must be one of R1..R5"),
    ("product_risk_level", 3, "must be one of R1..R5, got 3"),
    ("product_risk_level", "C3", "must be one of R1..R5"),
    ("customer_risk_level", MISSING, "required field is missing"),
    ("customer_risk_level", "C6", "must be one of C1..C5"),
    ("customer_risk_level", "R3", "must be one of C1..C5"),
    ("sale_time", MISSING, "required field is missing"),
    ("sale_time", "2026-11-21T10:15:00", "must include a UTC offset"),
    ("sale_time", "2026-11-21", "must include a UTC offset"),
    ("sale_time", "yesterday at ten", "ISO 8601"),
    ("sale_time", 1795000000, "ISO 8601"),
    ("sale_time", "1900-01-01T00:00:00+08:00", "out of range 1990..2200"),
    ("maturity_date", MISSING, "required field is missing"),
    ("maturity_date", "2027/11/21", "ISO date"),
    ("maturity_date", "2027-02-30", "ISO date"),
    ("maturity_date", "2027-11-21T00:00:00+08:00", "ISO date"),
    ("maturity_date", "9999-12-31", "year 9999 is out of range"),
    ("maturity_date", "99999999-01-01", "out of range"),
    ("maturity_date", 20271121, "ISO date"),
    ("maturity_date", "2025-01-01", "before the sale date"),
    ("audio_file", "/data/BR1.wav", "not absolute"),
    ("audio_file", "C:/data/BR1.wav", "not absolute"),
    ("audio_file", "../x.wav", "'..'"),
    ("audio_file", "sub/../../x.wav", "'..'"),
    ("audio_file", "sub\\x.wav", "'/'"),
    ("audio_file", "missing.wav", "file not found"),
    ("audio_file", "", "must not be empty"),
    ("audio_file", 5, "must be a string"),
    ("audio_offset_s", float("nan"), "finite"),
    ("audio_offset_s", float("inf"), "finite"),
    ("audio_offset_s", 1e9, "within ±3600"),
    ("audio_offset_s", -3600.5, "within ±3600"),
    ("audio_offset_s", "1.5", "must be a number"),
    ("audio_offset_s", True, "must be a number"),
    ("audio_channels", {"left": 0, "right": 1}, "exactly the keys 'staff' and 'customer'"),
    ("audio_channels", {"staff": 0}, "exactly the keys"),
    ("audio_channels", {"staff": 0, "customer": 1, "judge": 2}, "exactly the keys"),
    ("audio_channels", {"staff": 1, "customer": 1}, "different channels"),
    ("audio_channels", {"staff": 0, "customer": 8}, "0..7"),
    ("audio_channels", {"staff": -1, "customer": 1}, "0..7"),
    ("audio_channels", {"staff": "0", "customer": 1}, "integer"),
    ("audio_channels", {"staff": 0.0, "customer": 1}, "integer"),
    ("audio_channels", [0, 1], "must be an object"),
    ("ruleset", "../rules", "path separators"),
    ("ruleset", "a/b", "path separators"),
    ("ruleset", ".x", "must not start with '.'"),
    ("ruleset", 3, "must be a string"),
]


@pytest.mark.parametrize("field, value, words", BAD_VALUES,
                         ids=[f"{f}={v!r}"[:60] if v is not MISSING else f"{f}=MISSING" for f, v, _ in BAD_VALUES])
def test_every_bad_field_value_is_named(tmp_path, field, value, words):
    media = _write(tmp_path, _with(field, value))
    with pytest.raises(SidecarError) as exc:
        load_sidecar(media)
    err = exc.value
    msg = str(err)
    assert err.field == field
    assert msg.startswith(f"sidecar BR1.json: {field}: ")
    assert words in msg
    assert isinstance(err, ValueError) and "\n" not in msg
    assert "pydantic" not in msg.lower() and "Value error" not in msg
    # personal data is never echoed
    assert CUSTOMER_ID not in msg and "张三丰" not in msg


def test_several_problems_are_all_reported(tmp_path):
    data = _with("product_risk_level", "R9")
    data["customer_risk_level"] = "C0"
    media = _write(tmp_path, data)
    with pytest.raises(SidecarError) as exc:
        load_sidecar(media)
    assert exc.value.field == "product_risk_level"
    assert [f for f, _ in exc.value.problems] == ["product_risk_level", "customer_risk_level"]
    assert "customer_risk_level: must be one of C1..C5" in str(exc.value)


def test_default_recording_id_from_an_unusable_stem(tmp_path):
    media = _write(tmp_path, VALID, name="sale 7 (copy)")
    with pytest.raises(SidecarError) as exc:
        load_sidecar(media)
    assert exc.value.field == "recording_id"
    assert "set recording_id in the sidecar" in str(exc.value)
    # giving one fixes it
    (tmp_path / "sale 7 (copy).json").write_text(json.dumps({**VALID, "recording_id": "sale-7"}))
    assert load_sidecar(media).recording_id == "sale-7"


def test_audio_file_symlink_out_of_the_folder(tmp_path):
    outside = tmp_path / "outside.wav"
    outside.write_bytes(b"\0")
    folder = tmp_path / "inbox"
    folder.mkdir()
    os.symlink(outside, folder / "link.wav")
    media = _write(folder, _with("audio_file", "link.wav"))
    with pytest.raises(SidecarError) as exc:
        load_sidecar(media)
    assert exc.value.field == "audio_file" and "outside the sidecar's folder" in str(exc.value)
    sub = folder / "audio"
    sub.mkdir()
    (sub / "x.wav").write_bytes(b"\0")
    (folder / "BR1.json").write_text(json.dumps(_with("audio_file", "audio/x.wav")))
    assert load_sidecar(media).audio_path == (sub / "x.wav").resolve()


FILE_PROBLEMS = [
    ("invalid_json", '{"branch_id": "BR001",\n  "staff_id": }', "invalid JSON at line 2 column 15"),
    ("array", json.dumps([VALID]), "must be a JSON object {...} at the top level, got a list"),
    ("string", '"BR1"', "got a string"),
    ("null", "null", "got null"),
    ("empty", "", "file is empty"),
    ("whitespace", "  \n ", "file is empty"),
    ("not_utf8", b'{"branch_id": "\xb1\xb1\xbe\xa9"}', "not UTF-8"),
    ("trailing", json.dumps(VALID) + " x", "invalid JSON"),
    ("nan_top", "NaN", "got a number"),
    ("deep", "[" * 100000 + "]" * 100000, "JSON"),
]


@pytest.mark.parametrize("kind, raw, words", FILE_PROBLEMS, ids=[k for k, _, _ in FILE_PROBLEMS])
def test_file_level_problems(tmp_path, kind, raw, words):
    media = _write(tmp_path, None, raw=raw)
    with pytest.raises(SidecarError) as exc:
        load_sidecar(media)
    assert exc.value.field is None
    assert str(exc.value).startswith("sidecar BR1.json: ")
    assert words in str(exc.value)


def test_utf8_bom_is_accepted(tmp_path):
    media = _write(tmp_path, None, raw="\ufeff" + json.dumps(VALID))
    assert load_sidecar(media).branch_id == "BR001"


def test_duplicate_key_is_named(tmp_path):
    raw = json.dumps(VALID)[:-1] + ', "customer_id": "220101199001011111"}'
    media = _write(tmp_path, None, raw=raw)
    with pytest.raises(SidecarError) as exc:
        load_sidecar(media)
    assert exc.value.field == "customer_id"
    assert "appears more than once" in str(exc.value)
    assert "220101199001011111" not in str(exc.value)


def test_missing_sidecar_names_the_expected_path(tmp_path):
    media = tmp_path / "BR9.mp4"
    media.write_bytes(b"\0")
    with pytest.raises(SidecarError) as exc:
        load_sidecar(media)
    assert exc.value.field is None
    assert str(tmp_path / "BR9.json") in str(exc.value) and "not found" in str(exc.value)
    with pytest.raises(SidecarError, match="not found"):
        load_sidecar(media, tmp_path / "nope.json")


def test_oversized_sidecar(tmp_path):
    big = dict(VALID, padding="x" * MAX_SIDECAR_BYTES)
    media = _write(tmp_path, big)
    with pytest.raises(SidecarError) as exc:
        load_sidecar(media)
    assert exc.value.field is None and "too large" in str(exc.value) and "1 MiB" in str(exc.value)


def test_sidecar_path_is_a_directory(tmp_path):
    media = tmp_path / "BR1.mp4"
    media.write_bytes(b"\0")
    (tmp_path / "BR1.json").mkdir()
    with pytest.raises(SidecarError, match="is a directory"):
        load_sidecar(media)


def test_from_dict_without_a_file():
    sc = Sidecar.from_dict({**VALID, "recording_id": "r1"})
    assert sc.audio_path is None and sc.recording_id == "r1"
    with pytest.raises(SidecarError) as exc:
        Sidecar.from_dict({**VALID, "recording_id": "r1", "customer_risk_level": "C9"})
    assert str(exc.value).startswith("sidecar: customer_risk_level: ")
    with pytest.raises(SidecarError, match="got a list"):
        Sidecar.from_dict([1])


# --------------------------------------------------------------------------- privacy


@pytest.mark.parametrize("value, masked", [
    ("110101199003071234", "1101**********1234"),
    ("11010119900307123X", "1101**********123X"),
    ("G12345678901", "G123****8901"),
    ("A1234567", "******67"),
    ("12345", "***45"),
    ("1234", "****"),
    ("", ""),
    (" 110101199003071234 ", "1101**********1234"),
    (None, None),
])
def test_mask_id(value, masked):
    assert mask_id(value) == masked


@pytest.mark.parametrize("value, masked", [
    ("张三丰", "张**"),
    ("张三", "张*"),
    ("欧阳娜娜", "欧***"),
    ("张", "*"),
    ("John Smith", "J*********"),
    ("", ""),
    (None, None),
])
def test_mask_name(value, masked):
    assert mask_name(value) == masked


@given(st.text(min_size=0, max_size=40))
def test_mask_id_never_reveals_much(s):
    out = mask_id(s)
    n = len(s.strip())
    assert len(out) == n
    allowed = 8 if n >= 12 else 2 if n >= 5 else 0
    assert sum(c != "*" for c in out) <= allowed
