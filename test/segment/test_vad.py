"""Tests of the segmenters (espnet_tagspeech.segment.vad)."""

import pickle
import shutil
import subprocess
import sys

import numpy as np
import pytest

from espnet_tagspeech.segment.vad import (
    SAMPLE_RATE,
    EnergySegmenter,
    QuietestPoint,
    SegmenterUnavailable,
    SileroVadSegmenter,
    build_segmenter,
    frame_energy_db,
    silero_available,
)

BURSTS = [(0.5, 1.5), (2.0, 2.6), (4.0, 6.0)]


def _tone_bursts(duration=7.0, bursts=BURSTS, noise=1e-4, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration * SAMPLE_RATE)) / SAMPLE_RATE
    x = noise * rng.standard_normal(len(t))
    for s, e in bursts:
        on = (t >= s) & (t < e)
        x[on] += 0.3 * np.sin(2 * np.pi * 220 * t[on]) + 0.1 * np.sin(2 * np.pi * 660 * t[on])
    return x.astype(np.float32)


def test_frame_energy_of_silence_and_of_a_sine():
    assert np.all(frame_energy_db(np.zeros(16000)) == -100.0)
    t = np.arange(16000) / SAMPLE_RATE
    e = frame_energy_db(0.5 * np.sin(2 * np.pi * 400 * t))
    assert len(e) == 1 + (16000 - 400) // 160
    assert np.allclose(e, 10 * np.log10(0.125), atol=0.05)
    assert len(frame_energy_db(np.ones(10))) == 1  # shorter than a frame


def test_energy_segmenter_finds_tone_bursts_in_silence():
    regions = EnergySegmenter().speech_regions(_tone_bursts())
    assert len(regions) == len(BURSTS)
    for r, (s, e) in zip(regions, BURSTS):
        assert abs(r.start - s) < 0.03 and abs(r.end - e) < 0.03


def test_energy_segmenter_bridges_short_pauses_and_drops_blips():
    x = _tone_bursts(4.0, [(0.5, 1.0), (1.05, 1.6), (2.5, 2.55)])
    regions = EnergySegmenter(min_speech=0.2, min_silence=0.1).speech_regions(x)
    assert len(regions) == 1 and abs(regions[0].start - 0.5) < 0.03 and abs(regions[0].end - 1.6) < 0.03


def test_energy_segmenter_finds_nothing_in_silence_or_steady_noise():
    seg = EnergySegmenter()
    assert seg.speech_regions(np.zeros(5 * SAMPLE_RATE, np.float32)) == []
    noise = 0.05 * np.random.default_rng(1).standard_normal(5 * SAMPLE_RATE)
    assert seg.speech_regions(noise.astype(np.float32)) == []
    assert seg.speech_regions(np.zeros(0, np.float32)) == []


def test_energy_segmenter_hears_bursts_in_moderate_noise():
    x = _tone_bursts(noise=0.02)  # ~20 dB below the tones
    regions = EnergySegmenter().speech_regions(x)
    assert len(regions) == len(BURSTS)
    for r, (s, e) in zip(regions, BURSTS):
        assert abs(r.start - s) < 0.05 and abs(r.end - e) < 0.05


def test_segmenters_reject_stereo_and_non_finite_audio():
    seg = EnergySegmenter()
    with pytest.raises(ValueError, match="mono"):
        seg.speech_regions(np.zeros((100, 2), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        seg.speech_regions(np.array([0.0, np.nan], np.float32))
    with pytest.raises(ValueError):
        EnergySegmenter(ratio=1.5)


def test_quietest_point_lands_in_the_dip():
    t = np.arange(6 * SAMPLE_RATE) / SAMPLE_RATE
    x = 0.3 * np.sin(2 * np.pi * 200 * t)
    x[(t > 2.9) & (t < 3.1)] *= 0.01
    q = QuietestPoint(x.astype(np.float32))
    assert 2.9 < q(2.0, 4.0) < 3.1
    assert 3.3 <= q(3.3, 4.0) <= 4.0  # the dip outside the range is not chosen
    assert q(10.0, 11.0) == 10.5  # no frame there: the middle


def test_build_segmenter():
    assert isinstance(build_segmenter("energy", margin_db=4.0), EnergySegmenter)
    with pytest.raises(ValueError, match="unknown segmenter"):
        build_segmenter("webrtc")


def test_silero_unavailable_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "silero_vad", None)  # import fails as if not installed
    with pytest.raises(SegmenterUnavailable, match="pip install silero-vad"):
        SileroVadSegmenter().prepare()


def _espeak(text: str, tmp_path) -> np.ndarray:
    import soundfile as sf
    from scipy.signal import resample_poly

    out = tmp_path / "say.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(out), text], check=True, capture_output=True)
    x, rate = sf.read(out, dtype="float32")
    return resample_poly(x, SAMPLE_RATE, rate).astype(np.float32) if rate != SAMPLE_RATE else x


@pytest.mark.skipif(not silero_available(), reason="silero-vad is not installed (pip install silero-vad==6.2.3)")
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng (Debian package) makes the speech")
def test_silero_finds_synthetic_speech_and_not_silence(tmp_path):
    speech = _espeak("please check the schedule before the meeting on monday", tmp_path)
    gap = np.zeros(2 * SAMPLE_RATE, np.float32)
    x = np.concatenate([gap, speech, gap, speech, gap])
    rng = np.random.default_rng(0)
    x = x + 1e-3 * rng.standard_normal(len(x)).astype(np.float32)
    import torch

    seg = SileroVadSegmenter()
    threads = torch.get_num_threads()
    regions = seg.speech_regions(x)
    assert torch.get_num_threads() == threads  # one thread only while it runs (importing silero_vad sets 1)
    n = len(speech) / SAMPLE_RATE
    truth = [(2.0, 2.0 + n), (4.0 + n, 4.0 + 2 * n)]
    assert regions, "silero heard nothing"
    for r in regions:  # every region lies in (or right at the edge of) a spoken stretch
        assert any(s - 0.2 <= r.start and r.end <= e + 0.2 for s, e in truth), (r, truth)
    heard = sum(max(0.0, min(r.end, e) - max(r.start, s)) for r in regions for s, e in truth)
    assert heard > 0.7 * 2 * n
    assert seg.speech_regions(1e-3 * rng.standard_normal(3 * SAMPLE_RATE).astype(np.float32)) == []
    assert pickle.loads(pickle.dumps(seg))._model is None  # the model is reloaded per process, not pickled
