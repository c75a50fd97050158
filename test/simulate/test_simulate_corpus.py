"""The generated corpus: audio agrees with its truth, files agree with each other."""

import wave

import numpy as np

from espnet_tagspeech.bin import make_cuts as make_cuts_cli
from espnet_tagspeech.data.formats import read_ctm, read_rttm, read_seglst
from espnet_tagspeech.data.kaldi import read_durations, read_segments, read_text, read_utt2spk, read_wav_scp
from espnet_tagspeech.data.validate import validate_data_dir
from espnet_tagspeech.serialization import line_to_target, parse
from espnet_tagspeech.simulate.writer import read_truth

SR = 16000


def read_wav(path: str) -> np.ndarray:
    with wave.open(path) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (SR, 1, 2)
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64) / 32768


def _close_gaps(mask: np.ndarray, max_gap: int) -> np.ndarray:
    out = mask.copy()
    idx = np.nonzero(mask)[0]
    for a, b in zip(idx[:-1], idx[1:]):
        if 1 < b - a <= max_gap + 1:
            out[a:b] = True
    return out


def test_silence_exactly_where_nobody_speaks(tiny_corpus):
    turns = read_rttm(tiny_corpus / "rttm")
    for reco, path in read_wav_scp(tiny_corpus / "wav.scp").items():
        x = read_wav(path)
        speech = np.zeros(len(x), bool)
        for t in turns:
            if t.recording == reco:
                # the rttm has 1 ms resolution
                speech[int((t.start - 0.001) * SR) : int((t.end + 0.001) * SR)] = True
        assert speech.any()
        assert np.all(x[~speech] == 0.0), f"{reco}: sound outside the rttm turns"


def test_frame_energy_agrees_with_rttm(tiny_corpus):
    turns = read_rttm(tiny_corpus / "rttm")
    for reco, path in read_wav_scp(tiny_corpus / "wav.scp").items():
        x = read_wav(path)
        n = len(x) // 160
        rms = np.sqrt(np.mean(x[: n * 160].reshape(n, 160) ** 2, axis=1))
        vad = _close_gaps(rms > 10 ** (-50 / 20), 15)  # bridge word gaps and stop closures
        ref = np.zeros(n, bool)
        for t in turns:
            if t.recording == reco:
                ref[int(round(t.start * 100)) : int(round(t.end * 100))] = True
        agree = float(np.mean(vad == ref))
        assert agree >= 0.95, f"{reco}: only {agree:.3f} of 10 ms frames agree"


def test_word_times_agree_with_energy_to_20ms(tiny_corpus):
    truth = read_truth(tiny_corpus / "truth.jsonl")
    wavs = read_wav_scp(tiny_corpus / "wav.scp")
    checked = 0
    for reco, path in wavs.items():
        x = read_wav(path)
        mine = [t for t in truth if t.recording == reco]
        for t in mine:
            others = [o for o in mine if o.speaker != t.speaker]
            for w in t.words:
                lo, hi = w.start - 0.03, w.end + 0.03
                if any(o.start < hi and o.end > lo for o in others):
                    continue  # overlapped: energy cannot tell whose word it is
                a, b = int(round((w.start - 0.02) * SR)), int(round((w.end + 0.02) * SR))
                seg = x[max(a, 0) : b]
                m = len(seg) // 40  # 2.5 ms frames
                rms = np.sqrt(np.mean(seg[: m * 40].reshape(m, 40) ** 2, axis=1))
                act = np.nonzero(rms > rms.max() * 10 ** (-40 / 20))[0]
                onset = max(a, 0) / SR + act[0] * 40 / SR
                offset = max(a, 0) / SR + (act[-1] + 1) * 40 / SR
                assert abs(onset - w.start) <= 0.02, (reco, w)
                assert abs(offset - w.end) <= 0.02, (reco, w)
                checked += 1
    assert checked >= 50


def test_files_agree_with_truth(tiny_corpus):
    truth = read_truth(tiny_corpus / "truth.jsonl")
    assert len({t.recording for t in truth}) == 3
    rttm = read_rttm(tiny_corpus / "rttm")
    key = lambda t: (t.recording, t.speaker, round(t.start, 3))  # noqa: E731
    assert sorted(map(key, rttm)) == sorted(map(key, truth))
    ends = sorted((key(t), t.end) for t in rttm), sorted((key(t), t.end) for t in truth)
    assert all(abs(a[1] - b[1]) < 0.0015 for a, b in zip(*ends))  # rttm: 1 ms resolution
    segs, text, utt2spk = (read_segments(tiny_corpus / "segments"), read_text(tiny_corpus / "text"),
                           read_utt2spk(tiny_corpus / "utt2spk"))  # fmt: skip
    got = sorted((s.recording, utt2spk[u], round(s.start, 3), text[u]) for u, s in segs.items())
    assert got == sorted((t.recording, t.speaker, round(t.start, 3), t.text) for t in truth)
    ctm = read_ctm(tiny_corpus / "words.ctm")
    assert len(ctm) == sum(len(t.words) for t in truth)
    assert all(w.text.replace("'", "").isalpha() and w.text.islower() for _, _, w in ctm)
    seglst = read_seglst(tiny_corpus / "ref.seglst.json")
    assert sorted(t.text for t in seglst) == sorted(t.text for t in truth)
    for reco, dur in read_durations(tiny_corpus / "reco2dur").items():
        wav = read_wav(read_wav_scp(tiny_corpus / "wav.scp")[reco])
        assert abs(len(wav) / SR - dur) < 0.001
        assert max(t.end for t in truth if t.recording == reco) < dur
    genders = dict(line.split() for line in (tiny_corpus / "spk2gender").read_text().splitlines())
    assert all(genders[t.speaker] == t.gender == t.speaker[0] for t in truth)
    # word spans lie inside their turn, in order, without overlap
    for t in truth:
        assert t.words[0].start == t.start and t.words[-1].end == t.end
        assert all(a.end < b.start for a, b in zip(t.words, t.words[1:]))


def test_no_speaker_overlaps_themself(tiny_corpus):
    truth = sorted(read_truth(tiny_corpus / "truth.jsonl"), key=lambda t: (t.recording, t.speaker, t.start))
    for a, b in zip(truth, truth[1:]):
        if (a.recording, a.speaker) == (b.recording, b.speaker):
            assert a.end < b.start


def test_data_dir_validates_and_cuts(tiny_corpus, tmp_path):
    report = validate_data_dir(tiny_corpus, audio="read")
    assert report.ok, "\n".join(map(str, report.problems))
    out = tmp_path / "cuts"
    assert make_cuts_cli.main(["--in_dir", str(tiny_corpus), "--out_dir", str(out), "--max_dur", "30"]) == 0
    report = validate_data_dir(out, audio="read")
    assert report.ok, "\n".join(map(str, report.problems))
    texts = read_text(out / "text")
    segs = read_segments(out / "segments")
    n_turns = 0
    for cut, line in texts.items():
        res = parse(line_to_target(line), recording=cut, offset=segs[cut].start, strict=True)
        n_turns += len(res.turns)
        assert all(segs[cut].start - 0.006 <= t.start and t.end <= segs[cut].end + 0.006 for t in res.turns)
    dropped = len((out / "rttm").read_text().splitlines())
    assert n_turns == dropped  # the rttm of the cuts holds exactly the kept turns
    assert n_turns >= 0.8 * len(read_truth(tiny_corpus / "truth.jsonl"))
