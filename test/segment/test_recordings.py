"""Tests of recording loading and per-recording segmentation (espnet_tagspeech.segment.recordings)."""

import logging

import numpy as np
import pytest
import soundfile as sf

from espnet_tagspeech.data.kaldi import AudioReadError
from espnet_tagspeech.segment.recordings import load_mono_16k, segment_audio, write_window_audio
from espnet_tagspeech.segment.vad import SAMPLE_RATE, EnergySegmenter
from espnet_tagspeech.segment.windows import Window, WindowConfig


def test_stereo_keeps_the_asked_channel_with_a_warning_and_is_resampled(tmp_path, caplog):
    t = np.arange(44100) / 44100
    stereo = np.stack([np.zeros_like(t), 0.5 * np.sin(2 * np.pi * 300 * t)], 1)
    sf.write(tmp_path / "s.wav", stereo, 44100)
    with caplog.at_level(logging.INFO):
        x = load_mono_16k(str(tmp_path / "s.wav"), "s", channel=1)
    assert x.dtype == np.float32 and x.shape == (SAMPLE_RATE,)
    assert abs(np.abs(np.fft.rfft(x)).argmax() - 300) <= 1 and abs(x).max() > 0.45
    assert "'s'" in caplog.text and "2 channels" in caplog.text and "44100 Hz -> 16000 Hz" in caplog.text
    with pytest.raises(AudioReadError, match="channel 2 asked"):
        load_mono_16k(str(tmp_path / "s.wav"), "s", channel=2)


def test_empty_and_missing_audio_name_the_key(tmp_path):
    sf.write(tmp_path / "e.wav", np.zeros(0, np.float32), SAMPLE_RATE)
    with pytest.raises(AudioReadError, match="key 'e'.*empty audio"):
        load_mono_16k(str(tmp_path / "e.wav"), "e")
    with pytest.raises(AudioReadError, match="key 'm'.*no such file"):
        load_mono_16k(str(tmp_path / "m.wav"), "m")


def test_segment_audio_and_window_audio(tmp_path):
    x = np.zeros(10 * SAMPLE_RATE, np.float32)
    x[2 * SAMPLE_RATE : 4 * SAMPLE_RATE] = 0.3 * np.sin(np.arange(2 * SAMPLE_RATE) * 0.1)
    r = segment_audio(x, "rec", EnergySegmenter(), WindowConfig(max_window=20, pad=0.2))
    assert r.duration == 10.0 and abs(r.speech - 2.0) < 0.03
    assert len(r.windows) == 1 and abs(r.windows[0].start - 1.8) < 0.03 and abs(r.windows[0].end - 4.2) < 0.03
    assert segment_audio(np.zeros(SAMPLE_RATE, np.float32), "q", EnergySegmenter()).windows == ()
    durations = write_window_audio(x, (Window("rec", 2.0, 2.5),), tmp_path)
    piece, rate = sf.read(tmp_path / "rec_0002000_0002500.wav")
    assert durations == {"rec_0002000_0002500": 0.5} and rate == SAMPLE_RATE
    assert np.allclose(piece, x[2 * SAMPLE_RATE : int(2.5 * SAMPLE_RATE)], atol=1e-4)
