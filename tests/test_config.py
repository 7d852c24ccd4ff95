import pytest

from verifier.config import ConfigError, load_settings


def test_defaults_come_from_configs_thresholds(settings):
    assert settings.threshold("faces", "staff_side") == "left"
    assert settings.threshold("speech", "found_score") == 0.75


def test_config_file_overrides_one_threshold_and_keeps_the_rest(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("thresholds:\n  faces:\n    max_absence_s: 3\n", encoding="utf-8")
    s = load_settings(cfg)
    assert s.threshold("faces", "max_absence_s") == 3
    assert s.threshold("faces", "required_share") == 0.9


def test_env_overrides(monkeypatch, tmp_path):
    monkeypatch.setenv("DUALREC_DB_URL", "postgresql+psycopg://u@127.0.0.1/db")
    monkeypatch.setenv("DUALREC_WHISPER_MODEL", "small")
    s = load_settings()
    assert s.db_url.startswith("postgresql") and s.models.whisper == "small"


@pytest.mark.parametrize("body, where", [
    ("modles: {}\n", "modles"),
    ("models: {cpu_threads: -1}\n", "models.cpu_threads"),
    ("[1, 2]\n", "top level"),
])
def test_bad_config_names_the_key(tmp_path, body, where):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError, match=where.replace(".", r"\.")):
        load_settings(cfg)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "none.yaml")


def test_missing_threshold_is_named(settings):
    with pytest.raises(ConfigError, match="thresholds.faces.nope"):
        settings.threshold("faces", "nope")
