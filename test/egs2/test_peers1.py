"""egs2/mini_meeting/peers1: the ESPnet peers' label and format conversions, the budget
wrapper and run.sh's argument handling (fast: no training)."""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from espnet_tagspeech.data.errors import DataFormatError
from espnet_tagspeech.data.kaldi import Segment
from espnet_tagspeech.data.turn import Turn

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "egs2" / "mini_meeting" / "peers1"
LOCAL = RECIPE / "local"
PY = sys.executable


def _load(name: str):
    sys.path.insert(0, str(LOCAL))
    spec = importlib.util.spec_from_file_location(name, LOCAL / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pl():
    return _load("peerlib")


def _cli(script: str, *args: str, cwd: Path = RECIPE) -> subprocess.CompletedProcess:
    return subprocess.run([PY, str(LOCAL / script), *args], cwd=cwd, capture_output=True, text=True)


# ----------------------------------------------------------------------------- EEND labels


def test_frame_labels_rows_columns_and_overlap(pl):
    turns = [Turn("r", "bob", 0.30, 0.55), Turn("r", "amy", 0.05, 0.25), Turn("r", "bob", 0.20, 0.31)]
    labels, speakers = pl.frame_labels(turns, num_frames=8, num_spk=3, frame_shift=0.1)
    assert speakers == ["amy", "bob"]  # order of first start
    assert labels.dtype == np.float32 and labels.shape == (8, 3)
    # row r is the activity at r * 0.1 s: amy [0.05, 0.25) -> rows 1, 2; bob [0.2, 0.31) u [0.3, 0.55) -> 2..5
    assert labels[:, 0].tolist() == [0, 1, 1, 0, 0, 0, 0, 0]
    assert labels[:, 1].tolist() == [0, 0, 1, 1, 1, 1, 0, 0]
    assert not labels[:, 2].any()
    # a turn past the end is cut at the last row
    labels, _ = pl.frame_labels([Turn("r", "a", 0.5, 9.0)], 8, 1, 0.1)
    assert labels[:, 0].tolist() == [0, 0, 0, 0, 0, 1, 1, 1]


def test_frame_labels_too_many_speakers_names_the_source(pl):
    turns = [Turn("r", s, i, i + 1.0) for i, s in enumerate("abcd")]
    with pytest.raises(DataFormatError, match=r"data/rttm \(r\).*4 speakers .*num_spk=3"):
        pl.frame_labels(turns, 100, 3, 0.1, source="data/rttm (r)")


@pytest.mark.parametrize("config", ["train_eend.yaml", "tuning/train_eend_conv2d.yaml"])
def test_label_rows_fit_espnets_frontend_and_encoder(pl, config):
    """Rows = the frontend's frames; after the config's label aggregator they exceed the
    encoder's frames by at most 2 (the diar model's length_diff_tolerance)."""
    import torch
    import yaml
    from espnet2.asr.frontend.default import DefaultFrontend
    from espnet2.layers.label_aggregation import LabelAggregate
    from espnet.nets.pytorch_backend.transformer.subsampling import Conv2dSubsampling

    conf = yaml.safe_load((RECIPE / "conf" / config).read_text())
    front = DefaultFrontend(**conf["frontend_conf"])
    hop, n_mels = conf["frontend_conf"]["hop_length"], conf["frontend_conf"]["n_mels"]
    conv = Conv2dSubsampling(n_mels, 8, 0.0) if conf["encoder_conf"]["input_layer"] == "conv2d" else None
    agg = LabelAggregate(**conf["label_aggregator_conf"])
    for n in (16000, 16320, 16640, 16960, 33333, 160000 + 777, 1280 * 50 - 1):
        wav = torch.zeros(1, n)
        feats, flens = front(wav, torch.tensor([n]))
        rows = pl.num_stft_frames(n, hop)
        assert feats.shape[1] == rows == int(flens[0])
        frames = rows
        if conv is not None:
            _, masks = conv(feats, torch.ones(1, 1, rows, dtype=torch.bool))
            frames = masks.shape[-1]
        labels, olens = agg(torch.zeros(1, rows, 3), torch.tensor([rows]))
        assert 0 <= labels.shape[1] - frames <= 2, n


@pytest.mark.parametrize("row_shift, win, offset", [(0.02, 4, -0.05), (0.08, 1, -0.04)])
def test_labels_through_espnet_aggregator_back_to_turns(pl, row_shift, win, offset):
    """RTTM turns -> label rows -> ESPnet's LabelAggregate -> encoder-frame activities ->
    turns: the same turns within one encoder frame (80 ms: 4 rows of 20 ms, or 1 of 80)."""
    import torch
    from espnet2.layers.label_aggregation import LabelAggregate

    grid = pl.FrameGrid.from_aggregator(row_shift, win, win)
    assert grid.shift == pytest.approx(0.08) and grid.offset == pytest.approx(offset)
    ref = [Turn("m", "a", 0.40, 2.30), Turn("m", "b", 1.90, 3.10), Turn("m", "a", 4.00, 4.90)]
    rows = pl.num_stft_frames(int(5.0 * 16000), int(row_shift * 16000))
    labels, speakers = pl.frame_labels(ref, rows, 3, row_shift)
    frames, _ = LabelAggregate(win, win, True)(torch.from_numpy(labels)[None], torch.tensor([rows]))
    hyp = pl.activities_to_turns(frames[0].numpy(), "m", grid, threshold=0.5, duration=5.0)
    names = {"spk1": "a", "spk2": "b"}
    assert [(names[t.speaker]) for t in hyp] == ["a", "b", "a"]
    for h, r in zip(hyp, ref):
        assert abs(h.start - r.start) <= grid.shift and abs(h.end - r.end) <= grid.shift


def test_activities_to_turns_threshold_median_clip(pl):
    grid = pl.FrameGrid(shift=0.1, offset=-0.05)
    p = np.zeros((12, 2), dtype=np.float32)
    p[0:6, 0] = 0.9   # frames 0-5: [-0.05, 0.55) -> clipped at 0
    p[3, 0] = 0.2     # a one-frame gap the median filter closes
    p[9, 1] = 0.8     # a one-frame blip it removes
    p[10:12, 1] = 0.45
    raw = pl.activities_to_turns(p, "r", grid, threshold=0.5, median=1)
    assert [(t.speaker, t.start, t.end) for t in raw] == [
        ("spk1", 0.0, 0.25), ("spk1", 0.35, 0.55), ("spk2", 0.85, 0.95)]
    smooth = pl.activities_to_turns(p, "r", grid, threshold=0.5, median=3)
    assert [(t.speaker, t.start, t.end) for t in smooth] == [("spk1", 0.0, 0.55)]
    low = pl.activities_to_turns(p, "r", grid, threshold=0.4, median=1, duration=1.1)
    assert [(t.speaker, t.start, t.end) for t in low if t.speaker == "spk2"] == [("spk2", 0.85, 1.1)]
    with pytest.raises(ValueError, match="odd"):
        pl.activities_to_turns(p, "r", grid, median=4)
    with pytest.raises(ValueError, match="frames, speakers"):
        pl.activities_to_turns(p[:, 0], "r", grid)


def test_frame_grid_and_label_geometry_from_the_config(pl, tmp_path):
    num_spk, fs, shift = pl.label_geometry(str(RECIPE / "conf" / "train_eend.yaml"))
    assert (num_spk, fs) == (3, 16000) and shift == pytest.approx(0.08)
    grid = pl.frame_grid(str(RECIPE / "conf" / "train_eend.yaml"))
    assert grid.shift == pytest.approx(0.08) and grid.offset == pytest.approx(-0.04)
    grid = pl.frame_grid(str(RECIPE / "conf" / "tuning" / "train_eend_conv2d.yaml"))
    assert grid.shift == pytest.approx(0.08) and grid.offset == pytest.approx(-0.05)
    bad = tmp_path / "bad.yaml"
    bad.write_text("frontend_conf: {fs: 16k, hop_length: 160}\n")
    with pytest.raises(ValueError, match=r"bad\.yaml: needs num_spk"):
        pl.label_geometry(str(bad))
    bad.write_text("num_spk: 2\nfrontend_conf: {fs: 16k, hop_length: 160}\nlabel_aggregator_conf: {center: false}\n")
    with pytest.raises(ValueError, match="center must be true"):
        pl.frame_grid(str(bad))


# ----------------------------------------------------------------------------- SOT text


def test_sot_text_order_and_speaker_changes(pl):
    U = pl.Utterance
    utts = [U("b", 2.05, 2.7, "i see"), U("a", 0.0, 6.8, "the  budget is nine"),
            U("a", 7.0, 8.0, "ok then"), U("c", 7.5, 9.0, "sure"), U("c", 9.5, 10.0, " ")]
    assert pl.sot_text(utts) == "the budget is nine <sc> i see <sc> ok then <sc> sure"
    assert pl.sot_text([U("a", 1, 2, "one"), U("a", 0, 1, "zero")]) == "zero one"
    assert pl.sot_text([]) == ""
    with pytest.raises(ValueError, match="contains the symbol"):
        pl.sot_text([U("a", 0, 1, "x <sc> y")])


def test_split_sot_and_windows_to_pseudo_speakers(pl):
    assert pl.split_sot("  a b <sc> c<sc>  <sc> d  ") == ["a b", "c", "d"]
    assert pl.split_sot("") == []
    c2r = {"w1": Segment("rec", 10.0, 14.5), "w0": Segment("rec", 0.5, 9.0), "x0": Segment("other", 0.0, 3.0)}
    turns = pl.sot_windows_to_turns({"w0": "hello there <sc> no way", "w1": "fine", "x0": "<sc>"}, c2r)
    assert [(t.recording, t.speaker, t.start, t.end, t.text) for t in turns] == [
        ("rec", "w0-00", 0.5, 9.0, "hello there"), ("rec", "w0-01", 0.5, 9.0, "no way"),
        ("rec", "w1-00", 10.0, 14.5, "fine")]
    with pytest.raises(DataFormatError, match="'w9'"):
        pl.sot_windows_to_turns({"w9": "a"}, c2r)


def test_sot_round_trip_gives_each_speaker_change_its_segment(pl):
    U = pl.Utterance
    utts = [U("a", 0, 2, "one two"), U("b", 1, 3, "three"), U("b", 3.5, 4, "four"), U("a", 5, 6, "five")]
    text = pl.sot_text(utts)
    c2r = {"w": Segment("rec", 100.0, 106.0)}
    turns = pl.sot_windows_to_turns({"w": text}, c2r)
    assert [t.text for t in turns] == ["one two", "three four", "five"]


def test_cut_utterances(pl):
    segs = {"u1": Segment("r", 1.0, 3.0), "u2": Segment("r", 2.5, 4.0), "u3": Segment("r", 6.0, 7.0),
            "u4": Segment("s", 0.0, 1.0)}
    spk = {"u1": "a", "u2": "b", "u3": "a", "u4": "c"}
    txt = {"u1": "x", "u2": "y", "u3": "z", "u4": "w"}
    cuts = {"c1": Segment("r", 1.0, 4.0), "c2": Segment("r", 5.995, 7.0)}
    out = pl.cut_utterances(segs, spk, txt, cuts)
    assert [(u.speaker, u.start, u.end, u.words) for u in out["c1"]] == [("a", 0.0, 2.0, "x"), ("b", 1.5, 3.0, "y")]
    assert [u.words for u in out["c2"]] == ["z"]
    with pytest.raises(DataFormatError, match=r"segments: utterance 'u2' .*straddles cut 'c1'"):
        pl.cut_utterances(segs, spk, txt, {"c1": Segment("r", 1.0, 3.2)}, source="segments")
    with pytest.raises(DataFormatError, match="hold no utterance"):
        pl.cut_utterances(segs, spk, txt, {**cuts, "c3": Segment("r", 8.0, 9.0)})
    with pytest.raises(DataFormatError, match="'u4' has no utt2spk"):
        pl.cut_utterances(segs, {k: v for k, v in spk.items() if k != "u4"}, txt, cuts)


def test_reference_windows_sot(pl):
    ref = [Turn.from_text("r", "a", 0.0, 2.0, "one two"), Turn.from_text("r", "b", 1.5, 2.5, "three"),
           Turn.from_text("r", "a", 5.0, 6.0, "four")]
    c2r = {"w0": Segment("r", 0.0, 3.0), "w1": Segment("r", 4.0, 7.0), "w2": Segment("r", 8.0, 9.0)}
    assert pl.reference_windows_sot(ref, c2r) == {"w0": "one two <sc> three", "w1": "four", "w2": ""}


def test_pruned_cpwer_equals_full_cpwer(pl):
    """Dropping the pseudo-speakers no optimal assignment uses and counting their words as
    insertions gives meeteval's cpWER over all of them."""
    from espnet_tagspeech.scoring.wer import score_words

    rng = np.random.default_rng(0)
    vocab = [f"w{i}" for i in range(12)]
    ref = [Turn.from_text("r", s, i, i + 1.0, " ".join(rng.choice(vocab, 6))) for i, s in enumerate("abcabc")]
    hyp = [Turn.from_text("r", f"p{k}", k, k + 1.0, " ".join(rng.choice(vocab, int(rng.integers(1, 7)))))
           for k in range(9)]
    hyp += [Turn.from_text("r", "p9", 0, 1.0, ref[0].text)]  # a good match for speaker a

    def distance(r, h):
        return score_words(r, h, metrics=("cpwer",)).overall["cpwer"].errors

    kept, dropped = pl.prune_hypothesis_speakers(ref, hyp, distance)
    assert len({t.speaker for t in kept}) <= 9 and "p9" in {t.speaker for t in kept}
    assert dropped["r"] == sum(len(t.words) for t in hyp) - sum(len(t.words) for t in kept)
    full = score_words(ref, hyp, metrics=("cpwer",)).overall["cpwer"]
    part = score_words(ref, kept, metrics=("cpwer",)).overall["cpwer"]
    assert full.errors == part.errors + dropped["r"] and full.insertions == part.insertions + dropped["r"]
    # no more hypothesis than reference speakers: nothing to drop
    assert pl.prune_hypothesis_speakers(ref, hyp[:2], distance) == (hyp[:2], {})


# ----------------------------------------------------------------------------- logs


LOG = textwrap.dedent("""\
    Model summary:
        Class Name: ESPnetDiarizationModel
        Total Number of model parameters: 1.09 M
    [vm] 2026-12-05 00:01:07,550 (trainer:336) INFO: 1/1000epoch started
    [vm] 2026-12-05 00:02:18,847 (trainer:394) INFO: 1epoch results: [train] iter_time=0.046, loss=0.569, der=0.666, train_time=7.560, time=1 minute and 0.58 seconds, total_count=8, [valid] loss=0.646, der=0.654, acc=0.686, loss_att=nan, time=8.1 seconds, total_count=2
    [vm] 2026-12-05 00:03:27,906 (trainer:394) INFO: 2epoch results: [train] loss=0.590, total_count=16, [valid] loss=0.586, der=0.624, time=7.9 seconds, total_count=4
    [vm] 2026-12-05 00:05:00,000 (trainer:394) INFO: 2epoch results: [train] loss=0.580, total_count=16, [valid] loss=0.5, der=0.6, total_count=4
    # ended at 2026-12-05 00:04:00 +0000 with exit code 0, elapsed 221.094 s
    # ended at 2026-12-05 00:06:00 +0000 with exit code 1, elapsed 3.0 s
    """)


def test_parse_train_log(pl):
    epochs = pl.parse_epoch_results(LOG)
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert epochs[0]["train"]["total_count"] == 8 and epochs[0]["train"]["time"] == pytest.approx(60.58)
    assert epochs[0]["valid"] == {"loss": 0.646, "der": 0.654, "acc": 0.686, "time": 8.1, "total_count": 2}
    assert epochs[1]["valid"]["loss"] == 0.5  # the later line of a re-logged epoch wins
    assert pl.parse_num_params(LOG) == 1_090_000 and pl.parse_num_params("nothing") is None
    assert pl.log_elapsed(LOG) == pytest.approx(221.094) and pl.log_elapsed("") is None


def test_logged_option_reads_the_command_line_a_log_starts_with(pl):
    log = "# python3 -m espnet_tagspeech.bin.pretrain --config conf/pretrain_x.yaml --output_dir exp/p\n# started\n"
    assert pl.logged_option(log, "config") == "conf/pretrain_x.yaml"
    assert pl.logged_option(log, "output_dir") == "exp/p"
    assert pl.logged_option(log, "ngpu") is None
    assert pl.logged_option("# python3 x.py --config\n", "config") is None  # no value
    assert pl.logged_option("INFO no command line\n# python3 --config a.yaml\n", "config") is None
    assert pl.logged_option("", "config") is None


def test_our_rows_count_the_pretraining_steps_of_the_config_stage_5_ran(tmp_path):
    table = _load("peer_table")
    ts = tmp_path / "tagspeech1"
    for d in ("conf", "exp/pretrain_mini", "exp/tagspeech_mini"):
        (ts / d).mkdir(parents=True)
    (ts / "conf" / "pre.yaml").write_text("semantic: {steps: 450}\nspeaker: {steps: 70}\n")
    (ts / "exp/pretrain_mini/pretrain.log").write_text(
        "# python3 -m espnet_tagspeech.bin.pretrain --config conf/pre.yaml --output_dir exp/pretrain_mini\n"
        "# ended at 2026-12-05 00:04:00 +0000 with exit code 0, elapsed 600.0 s\n")
    (ts / "exp/tagspeech_mini/RESULTS.md").write_text(
        "| dataset | system | DER c=0 | cpWER |\n|:--|:--|--:|--:|\n"
        "| test | TagSpeech (LLM) | 50.0 | 90.0 |\n| test | cascade (CTC + clustering) | 40.0 | 60.0 |\n")
    (ts / "exp/tagspeech_mini/train.log").write_text(LOG)
    (ts / "exp/tagspeech_mini/config.yaml").write_text("accum_grad: 1\n")
    notes = []
    rows = table.ours(ts, "mini", notes)
    assert [r["updates"] for r in rows] == ["536 (520 + 16)"] * 2
    assert rows[0]["cpWER"] == "90.0" and rows[1]["DER c=0"] == "40.0"
    (ts / "exp/pretrain_mini/pretrain.log").write_text("no command line\n")
    notes = []
    assert table.ours(ts, "mini", notes)[0]["updates"] == "16 (0 + 16)"
    assert any("pre-training steps unknown" in n for n in notes)


def test_parse_results_table(pl):
    md = textwrap.dedent("""\
        # RESULTS
        | dataset | system          | DER c=0 | cpWER |
        |:--------|:----------------|--------:|------:|
        | test    | TagSpeech (LLM) |   54.02 | 92.89 |
        | dev     | TagSpeech (LLM) |   40.00 | 80.00 |
        | test    | cascade (CTC + clustering) | 44.52 | 59.41 |

        | other | table |
        """)
    rows = pl.parse_results_table(md, "test")
    assert rows["TagSpeech (LLM)"]["DER c=0"] == "54.02"
    assert rows["cascade (CTC + clustering)"]["cpWER"] == "59.41" and len(rows) == 2
    with pytest.raises(DataFormatError, match=r"R\.md:5: 3 cells"):
        pl.parse_results_table(md.replace("40.00 | 80.00 |", "40.00 |"), "test", "R.md")
    with pytest.raises(DataFormatError, match="no markdown table"):
        pl.parse_results_table("# nothing\n", "test")


# ----------------------------------------------------------------------------- budget wrapper

FAKE_TRAIN = textwrap.dedent("""\
    import sys, time, pathlib
    args = sys.argv[1:]
    out = pathlib.Path(args[args.index("--output_dir") + 1])
    max_epoch = int(args[len(args) - 1 - args[::-1].index("--max_epoch") + 1]) if "--max_epoch" in args else 1000
    done = int((out / "checkpoint").read_text()) if (out / "checkpoint").exists() else 0
    with open(out / "calls", "a") as f:
        f.write(" ".join(args) + "\\n")
    for epoch in range(done + 1, max_epoch + 1):
        print(f"{epoch}/{max_epoch}epoch started", flush=True)
        time.sleep(0.35)
        print(f"{epoch}epoch results: [train] loss=1.0, total_count={epoch * 10}, [valid] loss=1.0", flush=True)
        (out / "checkpoint").write_text(str(epoch))
    (out / "valid.loss.ave.pth").write_text("averaged up to %d" % done)
    print("The training was finished", flush=True)
    """)


def test_finished_epochs(pl):
    bt = _load("budget_train")
    lines = ["[vm] x (trainer:336) INFO: 1/1000epoch started", "1epoch results: ...",
             "[vm] y INFO: 2/1000epoch started. Estimated time to finish: 1 hour", "junk 3/7 epoch started"]
    assert bt.finished_epochs(lines) == [1]


def test_budget_train_stops_after_the_crossing_epoch_and_averages(tmp_path):
    fake = tmp_path / "fake_train.py"
    fake.write_text(FAKE_TRAIN)
    out = tmp_path / "exp"
    cmd = ["--budget_min", "0.01", "--output_dir", str(out), "--poll", "0.05", "--",
           PY, str(fake), "--output_dir", str(out), "--resume", "true"]
    proc = _cli("budget_train.py", *cmd)
    assert proc.returncode == 0, proc.stderr
    ledger = json.loads((out / "budget.json").read_text())
    # 0.6 s budget, epochs of ~0.35 s plus start-up: stopped after the epoch that crossed it
    assert ledger["done"] and ledger["stopped_by"] == "budget"
    last = max(ledger["epochs"])
    assert ledger["spent_s"] >= 0.6 and ledger["saved_at_s"][str(last)] == pytest.approx(ledger["spent_s"], abs=0.1)
    assert all(ledger["saved_at_s"][str(e)] < 0.6 for e in ledger["epochs"] if e < last)
    calls = (out / "calls").read_text().splitlines()
    assert len(calls) == 2 and calls[1].endswith(f"--max_epoch {last}")  # the averaging call
    assert (out / "valid.loss.ave.pth").read_text() == f"averaged up to {last}"
    assert "epoch started" in (out / "train.log").read_text()
    # re-running: nothing left to do
    again = _cli("budget_train.py", *cmd)
    assert again.returncode == 0 and "nothing to do" in again.stderr
    assert len((out / "calls").read_text().splitlines()) == 2
    # a larger budget: training goes on from the last saved epoch
    more = _cli("budget_train.py", "--budget_min", "0.03", *cmd[2:])
    assert more.returncode == 0 and "budget raised" in more.stderr, more.stderr
    ledger = json.loads((out / "budget.json").read_text())
    assert ledger["done"] and ledger["spent_s"] >= 1.8 and min(e for e in ledger["epochs"] if e > last) == last + 1
    assert len((out / "calls").read_text().splitlines()) == 4


def test_budget_train_resumes_an_interrupted_run_and_reports_failures(tmp_path):
    fake = tmp_path / "fake_train.py"
    fake.write_text(FAKE_TRAIN)
    out = tmp_path / "exp"
    out.mkdir()
    # an earlier run saved 2 epochs in 10 s of a 1-minute budget
    (out / "checkpoint").write_text("2")
    (out / "budget.json").write_text(json.dumps({"spent_s": 10.0, "epochs": [1, 2], "done": False}))
    cmd = ["--budget_min", "0.18", "--output_dir", str(out), "--poll", "0.05", "--",
           PY, str(fake), "--output_dir", str(out), "--resume", "true"]
    assert _cli("budget_train.py", *cmd).returncode == 0
    ledger = json.loads((out / "budget.json").read_text())
    assert ledger["epochs"][:2] == [1, 2] and min(ledger["epochs"][2:]) == 3
    assert ledger["spent_s"] >= 10.8
    # a training that fails: its exit code, the ledger kept
    broken = tmp_path / "broken.py"
    broken.write_text("import sys; print('boom'); sys.exit(3)\n")
    out2 = tmp_path / "exp2"
    proc = _cli("budget_train.py", "--budget_min", "1", "--output_dir", str(out2), "--", PY, str(broken))
    assert proc.returncode == 3 and "exit code 3" in proc.stderr
    (out2 / "budget.json").write_text("[1, 2]")
    proc = _cli("budget_train.py", "--budget_min", "1", "--output_dir", str(out2), "--", PY, str(broken))
    assert proc.returncode == 1 and "budget.json: not a budget ledger" in proc.stderr
    assert _cli("budget_train.py", "--budget_min", "0", "--output_dir", str(out2), "--", "true").returncode == 2


# ----------------------------------------------------------------------------- data prep CLIs


def _wav(path: Path, seconds: float) -> None:
    import soundfile

    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, np.zeros(int(seconds * 16000), dtype=np.float32), 16000)


def test_prep_eend(tmp_path):
    src = tmp_path / "in"
    _wav(src / "a.wav", 2.0)
    _wav(src / "b.wav", 1.0)
    (src / "wav.scp").write_text(f"ra {src / 'a.wav'}\nrb {src / 'b.wav'}\n")
    (src / "rttm").write_text("SPEAKER ra 1 0.10 0.50 <NA> <NA> x <NA> <NA>\n"
                              "SPEAKER ra 1 0.40 1.00 <NA> <NA> y <NA> <NA>\n"
                              "SPEAKER rb 1 0.00 0.30 <NA> <NA> z <NA> <NA>\n")
    (src / "uem").write_text("ra 1 0.0 2.0\nrb 1 0.0 1.0\n")
    out = tmp_path / "out"
    conf = RECIPE / "conf" / "train_eend.yaml"
    proc = _cli("prep_eend.py", "--in_dir", str(src), "--out_dir", str(out), "--train_config", str(conf))
    assert proc.returncode == 0, proc.stderr
    assert (out / "speech_shape").read_text() == "ra 32000\nrb 16000\n"
    # one row per 80 ms frontend frame (conf/train_eend.yaml): 32000 // 1280 + 1
    assert (out / "spk_labels_shape").read_text() == "ra 26,3\nrb 13,3\n"
    scp = dict(line.split() for line in (out / "spk_labels.scp").read_text().splitlines())
    la = np.load(scp["ra"])
    # x: [0.1, 0.6) -> rows 2-7 (0.16 ... 0.56 s); y: [0.4, 1.4) -> rows 5-17
    assert la.shape == (26, 3) and np.flatnonzero(la[:, 0]).tolist() == list(range(2, 8))
    assert np.flatnonzero(la[:, 1]).tolist() == list(range(5, 18)) and not la[:, 2].any()
    assert (out / "uem").read_text() == (src / "uem").read_text()
    again = _cli("prep_eend.py", "--in_dir", str(src), "--out_dir", str(out), "--train_config", str(conf))
    assert "done before" in again.stderr
    # test sets: no labels; bad input names the file
    proc = _cli("prep_eend.py", "--in_dir", str(src), "--out_dir", str(tmp_path / "t"), "--labels", "false")
    assert proc.returncode == 0 and not (tmp_path / "t" / "spk_labels.scp").exists()
    (src / "rttm").write_text("SPEAKER ra 1 0.10 x <NA> <NA> x <NA> <NA>\n")
    proc = _cli("prep_eend.py", "--in_dir", str(src), "--out_dir", str(tmp_path / "u"))
    assert proc.returncode == 1 and f"{src / 'rttm'}:1: duration is not a number" in proc.stderr
    (src / "rttm").write_text("".join(f"SPEAKER ra 1 {i}.0 0.5 <NA> <NA> s{i} <NA> <NA>\n" for i in range(4))
                              + "SPEAKER rb 1 0 0.5 <NA> <NA> s <NA> <NA>\n")
    proc = _cli("prep_eend.py", "--in_dir", str(src), "--out_dir", str(tmp_path / "v"), "--num_spk", "3")
    assert proc.returncode == 1 and "(ra): 4 speakers" in proc.stderr


def test_prep_sot_and_sot_to_seglst(tmp_path):
    reco, cuts = tmp_path / "reco", tmp_path / "cuts"
    reco.mkdir()
    (reco / "segments").write_text("u1 r 1.0 3.0\nu2 r 2.0 3.5\nu3 r 5.0 6.0\n")
    (reco / "utt2spk").write_text("u1 a\nu2 b\nu3 a\n")
    (reco / "text").write_text("u1 hello there\nu2 no way\nu3 fine\n")
    _wav(cuts / "c1.wav", 2.5)
    _wav(cuts / "c2.wav", 1.0)
    (cuts / "wav.scp").write_text(f"c1 {cuts / 'c1.wav'}\nc2 {cuts / 'c2.wav'}\n")
    (cuts / "cut2reco").write_text("c1 r 1.0 3.5\nc2 r 5.0 6.0\n")
    out = tmp_path / "sot"
    proc = _cli("prep_sot.py", "--cuts_dir", str(cuts), "--reco_dir", str(reco), "--out_dir", str(out))
    assert proc.returncode == 0, proc.stderr
    assert (out / "text").read_text() == "c1 hello there <sc> no way\nc2 fine\n"
    assert (out / "speech_shape").read_text() == "c1 40000\nc2 16000\n"
    assert (out / "cut2reco").read_text() == "c1 r 1.000 3.500\nc2 r 5.000 6.000\n"
    # decoding output -> recording SegLST
    hyp = tmp_path / "text"
    hyp.write_text("c1 hello <sc> no way <sc>\nc2\n")
    proc = _cli("sot_to_seglst.py", "--cut2reco", str(out / "cut2reco"), "--out", str(tmp_path / "h.json"), str(hyp))
    assert proc.returncode == 0, proc.stderr
    seg = json.loads((tmp_path / "h.json").read_text())
    assert [(s["session_id"], s["speaker"], s["start_time"], s["end_time"], s["words"]) for s in seg] == [
        ("r", "c1-00", 1.0, 3.5, "hello"), ("r", "c1-01", 1.0, 3.5, "no way")]
    hyp.write_text("c9 hello\n")
    proc = _cli("sot_to_seglst.py", "--cut2reco", str(out / "cut2reco"), "--out", str(tmp_path / "x.json"), str(hyp))
    assert proc.returncode == 1 and "'c9' is not in" in proc.stderr
    # an utterance across a cut boundary is named
    (cuts / "cut2reco").write_text("c1 r 1.0 3.2\nc2 r 5.0 6.0\n")
    proc = _cli("prep_sot.py", "--cuts_dir", str(cuts), "--reco_dir", str(reco), "--out_dir", str(tmp_path / "y"))
    assert proc.returncode == 1 and "utterance 'u2'" in proc.stderr and "straddles cut 'c1'" in proc.stderr


def test_score_sot_counts_extra_pseudo_speakers(tmp_path):
    ref = [{"session_id": "r", "speaker": "a", "start_time": 0.0, "end_time": 2.0, "words": "one two"},
           {"session_id": "r", "speaker": "b", "start_time": 1.0, "end_time": 3.0, "words": "three"}]
    hyp = [{"session_id": "r", "speaker": f"w{k}-00", "start_time": float(k), "end_time": k + 1.0, "words": w}
           for k, w in enumerate(["one two", "three", "one", "four five"])]
    (tmp_path / "ref.json").write_text(json.dumps(ref))
    (tmp_path / "hyp.json").write_text(json.dumps(hyp))
    proc = _cli("score_sot.py", "-r", str(tmp_path / "ref.json"), "--hyp", str(tmp_path / "hyp.json"),
                "--json", str(tmp_path / "s.json"))
    assert proc.returncode == 0, proc.stderr
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["overall"]["cpwer"]["errors"] == 3 and s["overall"]["cpwer"]["ins"] == 3  # "one four five"
    assert s["overall"]["wer"]["errors"] == 3 and s["per_recording"]["r"]["n_hyp_speakers"] == 4


# ----------------------------------------------------------------------------- EEND decoding


def test_eend_infer_reads_activities_despite_espnets_tuple(tmp_path):
    """A random-init model of the recipe's config through ESPnet's DiarizeSpeech: the
    activities come out of its (None, activities) return, one row per encoder frame."""
    import torch
    import yaml
    from espnet2.tasks.diar import DiarizationTask

    conf = yaml.safe_load((RECIPE / "conf" / "train_eend.yaml").read_text())
    args = DiarizationTask.get_parser().parse_args(["--output_dir", str(tmp_path)])
    for key, value in conf.items():
        setattr(args, key, value)
    torch.manual_seed(0)
    model = DiarizationTask.build_model(args)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(vars(args)))
    torch.save(model.state_dict(), tmp_path / "model.pth")
    data = tmp_path / "data"
    _wav(data / "m.wav", 3.0)
    (data / "wav.scp").write_text(f"m {data / 'm.wav'}\n")
    (data / "reco2dur").write_text("m 3.0\n")
    (data / "rttm").write_text("SPEAKER m 1 0.5 1.0 <NA> <NA> a <NA> <NA>\n")
    (data / "uem").write_text("m 1 0.0 3.0\n")
    proc = _cli("eend_infer.py", "--train_config", str(tmp_path / "config.yaml"), "--model_file",
                str(tmp_path / "model.pth"), "--data_dir", str(data), "--out_dir", str(tmp_path / "dec"),
                "--grid_thresholds", "0.4", "0.6", "--grid_medians", "1", "3")
    assert proc.returncode == 0, proc.stderr
    act = np.load(tmp_path / "dec" / "activities" / "m.npy")
    # 3 s: 48000 // 1280 + 1 = 38 frontend frames of 80 ms, the linear input layer keeps them
    assert act.shape == (38, 3) and ((act > 0) & (act < 1)).all()
    pp = json.loads((tmp_path / "dec" / "postproc.json").read_text())
    assert len(pp["tried"]) == 4 and (pp["threshold"], pp["median"]) in {(0.4, 1), (0.4, 3), (0.6, 1), (0.6, 3)}
    for line in (tmp_path / "dec" / "rttm").read_text().splitlines():
        f = line.split()
        assert f[1] == "m" and 0 <= float(f[3]) and float(f[3]) + float(f[4]) <= 3.0 + 1e-6


# ----------------------------------------------------------------------------- run.sh


@pytest.mark.parametrize("args, message", [
    (["--peers", "eend asr"], "--peers takes eend and/or sot, got 'asr'"),
    (["--budget_min", "0"], "--budget_min must be > 0"),
    (["--nj", "x"], "--nj must be a positive integer"),
    (["--no_such_option", "1"], "no_such_option"),
    (["--tagspeech_dir", "/nonexistent"], "missing /nonexistent/dump/mini/raw/train/wav.scp"),
])
def test_run_sh_refuses_bad_options(args, message, tmp_path):
    env = dict(os.environ)
    proc = subprocess.run(["./run.sh", *args], cwd=RECIPE, capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr


def test_makefile_has_the_peers_target_outside_ci():
    text = (REPO / "Makefile").read_text()
    assert "\npeers:" in text and "cd egs2/mini_meeting/peers1 && ./run.sh" in text
    test_target = text.split("\ntest:")[1].split("\n\n")[0]
    assert "peers" not in test_target


def _tagspeech_dump(root: Path) -> Path:
    """A TagSpeech recipe's dump/mini/raw dirs, as the peers read them: recordings, reference cuts
    of train/dev and the test set's VAD windows."""
    raw = root / "dump" / "mini" / "raw"
    for x in ("train", "dev", "test"):
        reco = raw / x
        _wav(reco / "r.wav", 4.0)
        (reco / "wav.scp").write_text(f"r {reco / 'r.wav'}\n")
        (reco / "segments").write_text("u1 r 0.5 1.5\nu2 r 2.0 3.0\n")
        (reco / "utt2spk").write_text("u1 a\nu2 b\n")
        (reco / "text").write_text("u1 hello\nu2 there\n")
    for x in ("train_cuts", "dev_cuts", "test_vad_cuts"):
        _wav(raw / x / "c1.wav", 1.5)
        _wav(raw / x / "c2.wav", 1.5)
        (raw / x / "wav.scp").write_text(f"c1 {raw / x / 'c1.wav'}\nc2 {raw / x / 'c2.wav'}\n")
        (raw / x / "cut2reco").write_text("c1 r 0.0 1.5\nc2 r 1.8 3.3\n")
    return raw


def test_sot_test_data_follows_tagspeechs_test_windows(tmp_path):
    """Stage 1 makes the SOT test set from TagSpeech's VAD windows once, and again only when
    those windows change (cut with other settings)."""
    raw = _tagspeech_dump(tmp_path / "ts")
    data = tmp_path / "data"

    def stage_1() -> str:
        proc = subprocess.run(["./run.sh", "--stage", "1", "--stop_stage", "1", "--peers", "sot",
                               "--tagspeech_dir", str(tmp_path / "ts"), "--datadir", str(data)],
                              cwd=RECIPE, capture_output=True, text=True, timeout=300)  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc.stdout + proc.stderr

    first = stage_1()
    assert f"SOT data test -> {data}/sot/test" in first
    assert (data / "sot" / "test" / "speech_shape").read_text() == "c1 24000\nc2 24000\n"
    assert "SOT data test" not in stage_1()  # the same windows: kept
    _wav(raw / "test_vad_cuts" / "c3.wav", 1.0)  # shorter windows
    (raw / "test_vad_cuts" / "wav.scp").write_text(f"c1 {raw / 'test_vad_cuts' / 'c1.wav'}\n"
                                                   f"c3 {raw / 'test_vad_cuts' / 'c3.wav'}\n")  # fmt: skip
    (raw / "test_vad_cuts" / "cut2reco").write_text("c1 r 0.0 1.5\nc3 r 1.8 2.8\n")
    again = stage_1()
    assert "test windows changed: SOT data test again" in again
    assert (data / "sot" / "test" / "speech_shape").read_text() == "c1 24000\nc3 16000\n"
    assert "SOT data train" not in again  # the training sets do not depend on them
