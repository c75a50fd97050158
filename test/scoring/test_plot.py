"""Timeline PNGs: produced, with the expected pixel size, zoomable, readable ticks."""

import struct

import numpy as np
import pytest

from espnet_tagspeech.bin import plot_timeline
from espnet_tagspeech.data.formats import write_rttm
from espnet_tagspeech.data.turn import Turn
from espnet_tagspeech.scoring.plot import figure_size_px, format_clock, nice_tick_step, plot_recording


def png_size(path):
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_cli_writes_one_png_per_recording(tmp_path):
    ref = [Turn("m1", "A", 0, 30), Turn("m1", "B", 25, 60), Turn("m2", "A", 0, 5)]
    hyp = [Turn("m1", "X", 0, 28), Turn("m1", "Y", 28, 60), Turn("m1", "Z", 40, 41)]
    write_rttm(tmp_path / "ref.rttm", ref)
    write_rttm(tmp_path / "hyp.rttm", hyp)
    out = tmp_path / "plots"
    rc = plot_timeline.main(["--ref", str(tmp_path / "ref.rttm"), "--hyp", str(tmp_path / "hyp.rttm"),
                             "--out_dir", str(out), "--width_px", "1600", "--collar", "0.25"])
    assert rc == 0
    assert sorted(p.name for p in out.iterdir()) == ["m1.png", "m2.png"]
    assert png_size(out / "m1.png") == figure_size_px(2, 3, 1600)
    assert png_size(out / "m2.png") == figure_size_px(1, 0, 1600)
    assert figure_size_px(2, 3, 1600)[1] > figure_size_px(1, 0, 1600)[1]


def test_zoom_and_unknown_recording(tmp_path, caplog):
    write_rttm(tmp_path / "ref.rttm", [Turn("m1", "A", 0, 30)])
    write_rttm(tmp_path / "hyp.rttm", [Turn("m1", "X", 0, 20)])
    args = ["--ref", str(tmp_path / "ref.rttm"), "--hyp", str(tmp_path / "hyp.rttm"),
            "--out_dir", str(tmp_path / "p")]
    assert plot_timeline.main(args + ["--recordings", "m1", "--start", "10", "--end", "25"]) == 0
    assert png_size(tmp_path / "p" / "m1.png") == figure_size_px(1, 1, 2400)
    assert plot_timeline.main(args + ["--recordings", "nope"]) == 1
    assert "nope" in caplog.text
    assert plot_timeline.main(args + ["--start", "5", "--end", "5"]) == 2


def test_hour_long_recording_mapping_and_errors(tmp_path):
    rng = np.random.default_rng(0)
    ref, hyp = [], []
    t = 0.0
    while t < 3600:
        d = float(rng.uniform(2, 20))
        spk = int(rng.integers(3))
        ref.append(Turn("long", f"R{spk}", round(t, 2), round(t + d, 2)))
        hyp.append(Turn("long", f"H{(spk + 1) % 3}", round(t + 0.3, 2), round(t + d, 2)))
        t += d
    fd = plot_recording(ref, hyp, tmp_path / "long.png")
    assert png_size(tmp_path / "long.png") == figure_size_px(3, 3)
    assert fd.mapping == {"R0": "H1", "R1": "H2", "R2": "H0"}
    assert fd.missed.sum() > 0 and fd.confusion.sum() == 0


@pytest.mark.parametrize(
    "span,step", [(3600, 300), (600, 30), (60, 5), (10, 0.5), (5000, 300)]
)
def test_nice_ticks(span, step):
    assert nice_tick_step(span) == step
    assert span / nice_tick_step(span) <= 24


def test_clock_labels():
    assert format_clock(3725, 60) == "1:02:05"
    assert format_clock(65, 5) == "1:05"
    assert format_clock(1.5, 0.5) == "0:01.5"
