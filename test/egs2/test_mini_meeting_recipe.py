"""Integration test: the mini_meeting recipe at --size tiny through every stage.

Runs `run.sh --size tiny` (data simulation, formatting, cuts, tokenizer, pre-training, stats,
training, decoding with 2 jobs, scoring, pack, upload dry run) in a temporary
recipe dir that links to the repository's recipe, then loads the packed zip
with `Speech2Tags.from_pretrained` and checks it decodes what stage 8 decoded.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "egs2" / "mini_meeting" / "tagspeech1"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (make install-system)"),
]


def _recipe_dir(tmp: Path) -> Path:
    d = tmp / "egs2" / "mini_meeting" / "tagspeech1"
    d.mkdir(parents=True)
    for name in ("run.sh", "tagspeech.sh", "path.sh", "cmd.sh", "db.sh", "utils", "conf", "local"):
        (d / name).symlink_to((RECIPE / name).resolve())
    return d


def _run(d: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="2")
    proc = subprocess.run(["./run.sh", "--size", "tiny", *args], cwd=d, env=env,
                          capture_output=True, text=True, timeout=1500)
    if check and proc.returncode != 0:
        raise AssertionError(f"run.sh {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return proc


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    d = _recipe_dir(tmp_path_factory.mktemp("recipe"))
    proc = _run(d)
    return d, proc


def test_every_stage_runs_and_scores(recipe):
    d, proc = recipe
    exp = d / "exp" / "tagspeech_tiny"
    dec = next(exp.glob("decode_tiny_link_speakers*/test"))  # TagSpeech's own decoding
    # A 60-update model need not produce sensible output (learning is test/tasks/test_overfit.py);
    # what must hold: every cut decoded, outputs parsed into valid files, and scored.
    cuts = (d / "dump" / "tiny" / "raw" / "test_vad_cuts" / "wav.scp").read_text().split("\n")
    decoded = (dec / "text").read_text().splitlines()
    assert sorted(x.split()[0] for x in decoded) == sorted(x.split()[0] for x in cuts if x)
    rttm = (dec / "rttm").read_text().splitlines()
    assert all(line.split()[0] == "SPEAKER" and len(line.split()) == 10 for line in rttm)
    assert isinstance(json.loads((dec / "hyp.seglst.json").read_text()), list)
    # decoded twice (speaker_voice_passes: 2): the first pass linked, its speakers' voices written
    # and read by every job of the second
    voices = json.loads((dec / "pass1" / "voices.json").read_text())
    cut2reco = (d / "dump" / "tiny" / "raw" / "test_vad_cuts" / "cut2reco").read_text().splitlines()
    assert sorted(voices) == sorted({ln.split()[1] for ln in cut2reco})  # every recording has an entry
    assert all("--recording_voices" in log.read_text() for log in (dec / "logdir").glob("inference.*.log"))
    # the second pass wrote the speaker blocks only: every cut's text block is the first pass's
    first = dict(line.split(" ", 1) for line in (dec / "pass1" / "text").read_text().splitlines())
    second = dict(line.split(" ", 1) for line in decoded)
    assert all("--keep_text_from" in log.read_text() for log in (dec / "logdir").glob("inference.*.log"))
    blocks = {k: v.split("</text>")[0] for k, v in first.items() if v.startswith("<text>") and "</text>" in v}
    assert all(second[k].startswith(b) for k, b in blocks.items())
    results = (exp / "RESULTS.md").read_text()
    row = next(line for line in results.splitlines() if line.startswith("| test"))
    # dataset | system | 11 numbers; ovl WER (the 10th number) is "-" when no reference word overlaps
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert len(cells) == 13 and cells[0] == "test" and cells[1]
    numbers = [float(x) for i, x in enumerate(cells[2:]) if not (i == 9 and x == "-")]
    assert len(numbers) >= 10 and all(0 <= x <= 1000 for x in numbers)
    assert "DER" in results and "cpWER" in results
    assert "test / TagSpeech (LLM): segmentation vad (silero, windows <= 20.0 s)" in results
    assert "| test" in proc.stdout  # the table is printed at the end
    assert list((exp / "images").glob("decode_tiny_link_speakers*/test/*.png"))
    systems = [line.split("|")[2].strip() for line in results.splitlines() if line.startswith("| test")]
    assert systems == ["TagSpeech (LLM)", "cascade (CTC + clustering)"]
    assert (exp / "run.sh").is_file() and os.access(exp / "run.sh", os.X_OK)
    # stage 4 trained the n-gram LM of the lines; stage 5 pre-trained both encoders (the
    # t-SOT CTC head from the recordings' word times) and stage 7 started from its init.pth
    assert (d / "dump" / "tiny" / "tokenizer" / "ngram.json").is_file()
    pre = yaml.safe_load((d / "exp" / "pretrain_tiny" / "pretrain_result.yaml").read_text())
    assert {"semantic_valid_loss", "semantic_valid_ter", "speaker_valid_loss"} <= set(pre)
    assert "t-SOT targets on 2 channels" in (d / "exp" / "pretrain_tiny" / "pretrain.log").read_text()
    assert "pretrain_tiny/init.pth" in (exp / "train.log").read_text()
    # decoding ran as 2 jobs with their own logs
    assert len(list((dec / "logdir").glob("inference.*.log"))) == 2
    # stage 11 without --hf_repo only says what it would push
    assert (exp / "hf_upload" / "README.md").is_file()


def test_packed_zip_decodes_like_stage_8(recipe):
    import soundfile as sf

    from espnet_tagspeech.data.kaldi import read_scp
    from espnet_tagspeech.decode import Speech2Tags
    from espnet_tagspeech.segment.config import SegmentConfig
    from espnet_tagspeech.serialization import line_to_target

    d, _ = recipe
    exp = d / "exp" / "tagspeech_tiny"
    zips = list(exp.glob("*_packed.zip"))
    assert len(zips) == 1
    # a single cut decoded on its own is stage 8's first pass (the second reads the recording's voices)
    decoded = read_scp(next(exp.glob("decode_tiny_link_speakers*/test")) / "pass1" / "text")
    key = sorted(decoded)[0]
    wav = read_scp(d / "dump" / "tiny" / "raw" / "test_vad_cuts" / "wav.scp")[key]
    audio, rate = sf.read(d / wav if not os.path.isabs(wav) else wav, dtype="float32")
    cwd = os.getcwd()
    os.chdir(tempfile_dir := d.parent)  # the zip must not depend on the recipe dir
    try:
        # the zip carries the decoding and linking configs: it decodes as stage 8 did
        s2t = Speech2Tags.from_pretrained(zips[0], cache_dir=tempfile_dir / "unpacked")
        conf = s2t.decode_config
        assert conf.text_from == "llm" and conf.speaker_constraint and conf.ctc_word_bias > 0
        assert (s2t.link_config.link_unit, s2t.link_config.rttm_from) == ("speaker", "block")
        # and the windows stage 3 cut the test set with (conf/segment_tiny.yaml)
        assert s2t.segment_config == SegmentConfig.from_yaml(d / "dump" / "tiny" / "raw" / "test_vad_cuts"
                                                             / "segment.yaml")  # fmt: skip
        assert (s2t.segment_config.segmenter, s2t.segment_config.max_window) == ("silero", 20.0)
        res = s2t.batch([audio], fs=rate, keys=[key])[0]
    finally:
        os.chdir(cwd)
    # (a Kaldi text line cannot keep trailing whitespace: compare without it)
    assert res.text.rstrip() == line_to_target(decoded[key])


def test_missing_inputs_name_the_stage_to_run(tmp_path):
    d = _recipe_dir(tmp_path)
    proc = _run(d, "--stage", "7", "--stop_stage", "7", check=False)
    assert proc.returncode != 0
    assert "run stage 6 first" in proc.stderr


def test_killed_training_resumes(recipe):
    """Stage 7 again on a finished experiment resumes from its checkpoint, not from scratch."""
    d, _ = recipe
    exp = d / "exp" / "tagspeech_tiny"
    assert (exp / "checkpoint.pth").is_file()
    before = (exp / "train.log").read_text()
    _run(d, "--stage", "7", "--stop_stage", "7")
    log = (exp / "train.log").read_text()
    assert before != log
    assert "checkpoint" in log.lower() or "resum" in log.lower()


# ----------------------------------------------------------------------------- decoding in parallel

DECODED = ("text", "rttm", "hyp.seglst.json", "parse_warnings")


def _decoding(d: Path) -> dict:
    """What stages 8-9 of TagSpeech's decoding gave: the decode dir's files and the scored rows."""
    dec = next((d / "exp" / "tagspeech_tiny").glob("decode_tiny_link_speakers*/test"))
    out = {name: (dec / name).read_text() for name in DECODED}
    out["RESULTS.md"] = [ln for ln in (dec / "RESULTS.md").read_text().splitlines() if ln.startswith("| test")]
    assert out["RESULTS.md"] and out["text"]
    return out


@pytest.fixture(scope="module")
def decoded_alone(recipe):
    """The trained recipe's TagSpeech decoding (stages 8-9) in one job, alone on the machine.

    The recipe decoded in 2 jobs; this re-decoding in 1 job merges its own output only (the
    2 jobs' files are not merged again)."""
    d, _ = recipe
    _run(d, "--stage", "8", "--stop_stage", "9", "--systems", "llm", "--inference_nj", "1")
    dec = next((d / "exp" / "tagspeech_tiny").glob("decode_tiny_link_speakers*/test"))
    assert [p.name for p in (dec / "logdir").glob("output.*")] == ["output.1"]
    return _decoding(d)


def test_four_decoding_jobs_on_two_cores_give_what_one_job_gives(recipe, decoded_alone):
    d, _ = recipe
    _run(d, "--stage", "8", "--stop_stage", "9", "--systems", "llm", "--inference_nj", "4")
    dec = next((d / "exp" / "tagspeech_tiny").glob("decode_tiny_link_speakers*/test"))
    assert len(list((dec / "logdir").glob("inference.*.log"))) == 4
    assert _decoding(d) == decoded_alone


def test_two_recipe_copies_decoding_at_once_give_what_one_gives(recipe, decoded_alone, tmp_path):
    """Two recipe dirs decode the same trained model at the same time (no shared temporary
    file, cache or lock between them): each gives what the recipe gave alone.  (Data and
    training are shared, not repeated: two whole tiny runs at once are too slow for CI.)"""
    d, _ = recipe
    copies = []
    for name in ("a", "b"):
        c = _recipe_dir(tmp_path / name)
        for shared in ("data", "dump", "downloads"):
            (c / shared).symlink_to(d / shared)
        shutil.copytree(d / "exp", c / "exp", ignore=shutil.ignore_patterns("decode_*", "images", "RESULTS.md"))
        copies.append(c)
    logs = _run_at_once(copies, "--stage", "8", "--stop_stage", "9")
    # they did decode at the same time: each one's stage 8 began before the other finished
    spans = [(_logged_at(log, "Stage 8: decoding"), _logged_at(log, "Successfully finished")) for log in logs]
    assert max(start for start, _ in spans) < min(end for _, end in spans), spans
    for c in copies:
        assert _decoding(c) == decoded_alone


def _run_at_once(dirs, *stages: str) -> list:
    """``run.sh --size tiny <stages> --systems llm`` started in every dir at once; their logs
    (each run must succeed).  Each run gets the threads of the run alone (the same float sums)."""
    env = dict(os.environ, OMP_NUM_THREADS="2")
    procs = [subprocess.Popen(["./run.sh", "--size", "tiny", *stages, "--systems", "llm"], cwd=d, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for d in dirs]
    logs = [p.communicate(timeout=1500)[0] for p in procs]
    for p, log in zip(procs, logs):
        assert p.returncode == 0, log[-4000:]
    return logs


def _logged_at(log: str, what: str) -> str:
    """The time stamp (ISO, comparable as text) of tagspeech.sh's first log line holding ``what``."""
    return next(line.split()[0] for line in log.splitlines() if what in line and line[:4].isdigit())


def test_two_whole_recipes_at_once_give_what_one_gives(recipe, decoded_alone, tmp_path):
    """Two recipe dirs run stages 1-9 at the same time, each synthesizing its own data (own
    word-clip cache), pre-training, training and decoding: each ends where the recipe alone did."""
    copies = [_recipe_dir(tmp_path / name) for name in ("a", "b")]
    logs = _run_at_once(copies, "--stop_stage", "9")
    spans = [(_logged_at(log, "Stage 1:"), _logged_at(log, "Stage 8: decoding")) for log in logs]
    assert max(start for start, _ in spans) < min(end for _, end in spans), spans  # they overlapped
    got = [_decoding(c) for c in copies]
    assert got[0] == got[1] == decoded_alone


def _rows(exp: Path) -> list:
    """``(set, system, decode dir name)`` of each row of the experiment's RESULTS.md, in order."""
    text = (exp / "RESULTS.md").read_text()
    rows = [tuple(c.strip() for c in line.strip("|").split("|")[:2])
            for line in text.splitlines() if line.startswith("| ") and not line.startswith("| dataset")]
    where = {}
    for line in text.splitlines():  # "- <set> / <system>: segmentation <s>; `<dir>/<set>`"
        if line.startswith("- ") and ": segmentation " in line:
            key, rest = line[2:].split(": segmentation ", 1)
            where[tuple(key.split(" / ", 1))] = rest.split("`")[1].split("/")[-2]
    return [(s, name, where[(s, name)]) for s, name in rows]


def test_a_tuning_decoding_replaces_its_own_row_only(recipe):
    """Stage 9's table for the experiment keeps one row per data set and system, from the
    decoding scored last: a decoding with another config under the same system label replaces
    that row until the recipe's own is scored again, a decoding of another set adds rows, and
    the other rows stay."""
    d, _ = recipe
    exp = d / "exp" / "tagspeech_tiny"
    conf = yaml.safe_load((RECIPE / "conf" / "decode_tiny.yaml").read_text())
    conf["max_new_tokens"] = int(conf.get("max_new_tokens", 800)) - 1
    tuned = d / "decode_tiny_tuned.yaml"
    tuned.write_text(yaml.safe_dump(conf))
    _run(d, "--stage", "8", "--stop_stage", "9", "--systems", "llm", "--inference_config", str(tuned))
    rows = _rows(exp)
    assert [(s, name) for s, name, _ in rows] == [("test", "cascade (CTC + clustering)"), ("test", "TagSpeech (LLM)")]
    assert rows[1][2].startswith("decode_tiny_tuned_") and rows[0][2].startswith("decode_tiny_cascade_")
    # another set, decoded alone (oracle cuts of dev): its row joins, the test rows stay
    _run(d, "--stage", "8", "--stop_stage", "9", "--systems", "llm", "--test_sets", "dev",
         "--test_segmentation", "oracle")
    assert [(s, name) for s, name, _ in _rows(exp)] == [
        ("test", "cascade (CTC + clustering)"), ("test", "TagSpeech (LLM)"), ("dev", "TagSpeech (LLM)")]
    # the recipe's own decoding scored again (stage 9 alone) takes its row back
    _run(d, "--stage", "9", "--stop_stage", "9", "--systems", "llm")
    rows = _rows(exp)
    assert [(s, name) for s, name, _ in rows][-1] == ("test", "TagSpeech (LLM)") and len(rows) == 3
    assert rows[-1][2].startswith("decode_tiny_link_speakers_vad_")
