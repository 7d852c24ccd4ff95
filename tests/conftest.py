import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
SPEECH = SHARED / "media" / "speech"


@pytest.fixture(scope="session")
def settings():
    from verifier.config import load_settings
    return load_settings()


@pytest.fixture(scope="session")
def astronaut_face():
    """The astronaut's head and shoulders from scikit-image (NASA, public domain), BGR."""
    import cv2
    from skimage import data
    img = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    return img[20:300, 100:330].copy()


@pytest.fixture(scope="session")
def detector(settings):
    from verifier.faces import FaceDetector, FaceThresholds
    from verifier.models import resolve_yunet
    return FaceDetector(resolve_yunet(settings).path, FaceThresholds.from_settings(settings))


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path, monkeypatch):
    # No test may write into the working tree's dualrec-data/.
    monkeypatch.setenv("DUALREC_DATA_DIR", str(tmp_path / "dualrec-data"))
    yield
