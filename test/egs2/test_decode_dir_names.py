"""tagspeech.sh names a decode dir by everything that changes its output, the contents of the
decoding and linking configs included, so that a second decoding never overwrites the first."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "egs2" / "TEMPLATE" / "tagspeech1"
MINI_CONF = REPO / "egs2" / "mini_meeting" / "tagspeech1" / "conf"


@pytest.fixture()
def recipe(tmp_path: Path) -> Path:
    """A recipe dir with its own (editable) copies of the configs, after stage 4."""
    for name in ("tagspeech.sh", "path.sh", "cmd.sh", "db.sh"):
        (tmp_path / name).symlink_to(TEMPLATE / name)
    (tmp_path / "utils").symlink_to(REPO / "utils")
    (tmp_path / "conf").mkdir()
    for name in ("train_tiny.yaml", "decode_tiny.yaml", "link_speakers.yaml"):
        shutil.copy(MINI_CONF / name, tmp_path / "conf" / name)
    (tmp_path / "dump" / "tokenizer").mkdir(parents=True)  # stage 4's n-gram, which the decoding reads
    (tmp_path / "dump" / "tokenizer" / "ngram.json").touch()
    return tmp_path


def _decode_dir(recipe: Path, *options: str) -> str:
    """The decode dir stage 9 looks for (it stops there: nothing was decoded)."""
    proc = subprocess.run(
        ["./tagspeech.sh", "--train_set", "train", "--valid_set", "dev", "--test_sets", "test",
         "--train_config", "conf/train_tiny.yaml", "--tag", "tiny", "--stage", "9", "--stop_stage", "9",
         "--inference_config", "conf/decode_tiny.yaml", "--link_config", "conf/link_speakers.yaml", *options],
        cwd=recipe, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    m = re.search(r"missing exp/tagspeech_tiny/(\S+)/test/rttm: run stage 8 first", proc.stderr)
    assert m, proc.stderr[-2000:]
    return m.group(1)


def test_config_contents_and_options_name_the_decode_dir(recipe):
    first = _decode_dir(recipe)
    assert re.fullmatch(r"decode_tiny_link_speakers_vad_valid\.acc\.ave_[0-9a-f]{8}", first)
    assert _decode_dir(recipe) == first  # the same decoding: the same dir
    link = recipe / "conf" / "link_speakers.yaml"
    link.write_text(link.read_text() + "linking_threshold: 0.9\n")
    edited = _decode_dir(recipe)
    assert edited != first and edited.startswith("decode_tiny_link_speakers_vad_valid.acc.ave_")
    decode = recipe / "conf" / "decode_tiny.yaml"
    decode.write_text(decode.read_text().replace("max_new_tokens: 120", "max_new_tokens: 100"))
    assert _decode_dir(recipe) not in (first, edited)
    assert _decode_dir(recipe, "--inference_args", "--beam_size 2") != _decode_dir(recipe)
    assert _decode_dir(recipe, "--test_segmentation", "oracle").startswith("decode_tiny_link_speakers_oracle_")
    # --link overrides the link yaml's voice prints only when given: then it names another dir
    assert _decode_dir(recipe, "--link", "resemblyzer") != _decode_dir(recipe)


def test_the_windows_stage_3_cut_name_the_decode_dir(recipe):
    """Test sets cut with other windows (segment_recordings records its settings in the dir it
    writes) decode into another dir."""
    plain = _decode_dir(recipe)
    cuts = recipe / "dump" / "raw" / "test_vad_cuts"
    cuts.mkdir(parents=True)
    (cuts / "segment.yaml").write_text("max_window: 14.0\nsegmenter: silero\n")
    fourteen = _decode_dir(recipe)
    assert fourteen != plain and fourteen.startswith("decode_tiny_link_speakers_vad_valid.acc.ave_")
    (cuts / "segment.yaml").write_text("max_window: 20.0\nsegmenter: silero\n")
    assert _decode_dir(recipe) not in (plain, fourteen)
    # the reference's cuts do not depend on the VAD's settings
    oracle = _decode_dir(recipe, "--test_segmentation", "oracle")
    (cuts / "segment.yaml").unlink()
    assert _decode_dir(recipe, "--test_segmentation", "oracle") == oracle


def test_a_bad_link_choice_is_named_before_any_stage(recipe):
    proc = subprocess.run(
        ["./tagspeech.sh", "--train_set", "train", "--valid_set", "dev", "--test_sets", "test",
         "--train_config", "conf/train_tiny.yaml", "--tag", "tiny", "--stage", "8", "--stop_stage", "8",
         "--link", "ge2e"], cwd=recipe, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "--link must be model, fbank, resemblyzer or none, got 'ge2e'" in proc.stderr
    assert "Stage 8" not in proc.stderr


def _stage_8(recipe: Path, test_set: str, *options: str) -> subprocess.CompletedProcess:
    """Stage 8 alone over ``test_set`` with a trained model in place (an empty file: every
    test here stops before the model is read)."""
    model = recipe / "exp" / "tagspeech_tiny" / "valid.acc.ave.pth"
    model.parent.mkdir(parents=True, exist_ok=True)
    model.touch()
    return subprocess.run(
        ["./tagspeech.sh", "--train_set", "train", "--valid_set", "dev", "--test_sets", test_set,
         "--train_config", "conf/train_tiny.yaml", "--tag", "tiny", "--stage", "8", "--stop_stage", "8",
         "--inference_config", "conf/decode_tiny.yaml", *options],
        cwd=recipe, capture_output=True, text=True, timeout=300)


def test_a_missing_config_file_is_named(recipe):
    proc = subprocess.run(
        ["./tagspeech.sh", "--train_set", "train", "--valid_set", "dev", "--test_sets", "test",
         "--train_config", "conf/train_tiny.yaml", "--stage", "9", "--stop_stage", "9",
         "--link_config", "conf/link_speakres.yaml"],
        cwd=recipe, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "no such config file: conf/link_speakres.yaml" in proc.stderr


def test_a_test_set_without_cuts_names_the_stage_3_command(recipe):
    """Decoding a set that stage 3 was not given (``--test_sets dev`` after a run on test) says
    how to make its cuts, before anything is decoded."""
    proc = _stage_8(recipe, "dev")
    assert proc.returncode != 0
    assert "missing dump/raw/dev_vad_cuts/wav.scp: run stage 3 first" in proc.stderr
    assert '--stage 3 --stop_stage 3 --test_sets "dev"' in proc.stderr
    assert not list((recipe / "exp" / "tagspeech_tiny").glob("decode_*"))


def test_windows_cut_with_other_settings_stop_stage_8_before_decoding(recipe):
    """Stage 8 checks that stage 3's windows were cut with the segmentation the options give
    (a yaml edited since, or other --vad_opts), naming the stage to run again."""
    cuts = recipe / "dump" / "raw" / "test_vad_cuts"
    cuts.mkdir(parents=True)
    (cuts / "wav.scp").write_text("w1 x.wav\n")
    (recipe / "conf" / "segment.yaml").write_text("max_window: 14\n")
    from espnet_tagspeech.segment.config import SegmentConfig

    SegmentConfig.from_yaml(recipe / "conf" / "segment.yaml").write_yaml(cuts / "segment.yaml")  # stage 3's record

    for options in (["--vad_opts", "--max_window 10"], ["--max_cut_dur", "20"]):
        if options[0] == "--max_cut_dur":  # the yaml edited since stage 3
            (recipe / "conf" / "segment.yaml").write_text("max_window: 12\n")
        proc = _stage_8(recipe, "test", "--segment_config", "conf/segment.yaml", *options)
        assert proc.returncode != 0
        assert "dump/raw/test_vad_cuts was cut with other settings" in proc.stderr, proc.stderr[-2000:]
        assert "--stage 3 --stop_stage 3" in proc.stderr and "Stage 8: decoding" in proc.stderr
        assert not list((recipe / "exp" / "tagspeech_tiny").glob("decode_*/test/logdir/keys.*"))


def test_bad_decoding_settings_stop_stage_8_before_any_decoding(recipe):
    """Stage 8 reads the decoding's settings (the yaml, then --inference_args) as its jobs will,
    and a bad one stops it with the key named, before anything is decoded."""
    proc = _stage_8(recipe, "test", "--inference_args", "--speaker_voice_passes 3")
    assert proc.returncode != 0
    assert "speaker_voice_passes must be 1 or 2, got 3" in proc.stderr
    assert "bad decoding settings" in proc.stderr and "Traceback" not in proc.stderr
    assert not list((recipe / "exp" / "tagspeech_tiny").glob("decode_*"))
