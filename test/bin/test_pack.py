"""bin/pack: which plots of an experiment dir go into the packed zip."""

from pathlib import Path

from espnet_tagspeech.bin.pack import packed_images


def test_plots_of_decode_dirs_no_longer_in_the_experiment_are_left_out(tmp_path):
    exp = tmp_path / "exp" / "tagspeech_x"
    images = exp / "images"
    for rel in ("loss.png", "decode_a_1234/test/rec1.png", "decode_b_5678/test/rec1.png", "decode_b_5678/dev/r.png"):
        (images / rel).parent.mkdir(parents=True, exist_ok=True)
        (images / rel).write_bytes(b"png")
    (exp / "decode_a_1234").mkdir()  # decode_b_5678 was moved away: its plots are stale
    got = [Path(p).relative_to(images).as_posix() for p in packed_images(images)]
    assert got == ["decode_a_1234/test/rec1.png", "loss.png"]
