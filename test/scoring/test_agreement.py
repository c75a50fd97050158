"""Random RTTM pairs: this module's DER/JER against independent implementations.

* md-eval-22 (Debian ``sctk``) run the way dscore runs it: must agree to
  0.01 % DER absolute, per file and overall, for every collar / overlap / UEM
  setting (skipped when md-eval.pl is not installed).
* pyannote.metrics DiarizationErrorRate: must agree to 0.01 % at collar 0 with
  overlap scored (the only setting where its definition matches dscore's; see
  the module docstring of :mod:`espnet_tagspeech.scoring.der`).
* JER against a brute-force frame loop with exhaustive speaker assignment.
"""

import itertools
import warnings

import numpy as np
import pytest

from espnet_tagspeech.data.turn import Turn, merge_intervals
from espnet_tagspeech.scoring.diarization import score_diarization
from espnet_tagspeech.scoring.mdeval import find_md_eval, run_md_eval
from espnet_tagspeech.scoring.regions import default_uem
from espnet_tagspeech.scoring.synthetic import random_reference, random_system

MD_EVAL = find_md_eval()
needs_md_eval = pytest.mark.skipif(
    MD_EVAL is None, reason="md-eval.pl not installed (Debian package 'sctk'); cannot cross-check"
)


def _data(seed, n_rec=4, duration=240.0):
    rng = np.random.default_rng(seed)
    ref, hyp = [], []
    for i in range(n_rec):
        r = random_reference(f"rec{i}", rng, n_speakers=2 + i % 4, duration=duration,
                             mean_turn=4.0, mean_pause=8.0)
        ref += r
        hyp += random_system(r, rng, jitter=0.3, extra_speakers=i % 2)
    # one reference recording without output and one system-only recording
    ref += random_reference("refonly", rng, n_speakers=2, duration=60.0)
    hyp += [Turn("sysonly", "S0", 1.0, 5.0)]
    return ref, hyp


def _uem_cutting_turns(ref, seed):
    rng = np.random.default_rng(seed)
    uem = {}
    for fid, ((on, off),) in default_uem(ref, []).items():
        a = float(rng.uniform(on, on + 0.2 * (off - on)))
        b = float(rng.uniform(on + 0.6 * (off - on), off))
        uem[fid] = [(round(a, 3), round(0.5 * (a + b), 3)),
                    (round(0.5 * (a + b) + 3.0, 3), round(b, 3))]
    return uem


@needs_md_eval
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("collar", [0.0, 0.25])
@pytest.mark.parametrize("ignore_overlaps", [False, True])
@pytest.mark.parametrize("with_uem", [False, True])
def test_matches_md_eval(seed, collar, ignore_overlaps, with_uem):
    ref, hyp = _data(seed)
    uem = _uem_cutting_turns(ref, seed) if with_uem else None
    ours = score_diarization(ref, hyp, uem=uem, collar=collar, ignore_overlaps=ignore_overlaps)
    md = run_md_eval(ref, hyp, uem=uem, collar=collar, ignore_overlaps=ignore_overlaps)
    assert ours.overall.der == pytest.approx(md.overall.der, abs=0.01)
    assert ours.overall.der == pytest.approx(md.der_printed, abs=0.0051)
    assert ours.overall.scored == pytest.approx(md.overall.scored, abs=1e-4)
    assert 5.0 < ours.overall.der < 80.0  # a realistic range, not a degenerate case
    for f in ours.files:
        m = md.files[f.file_id]
        assert f.der.der == pytest.approx(m.der, abs=0.01), f.file_id
        assert f.der.missed == pytest.approx(m.missed, abs=1e-4)
        assert f.der.false_alarm == pytest.approx(m.false_alarm, abs=1e-4)
        assert f.der.confusion == pytest.approx(m.confusion, abs=1e-4)
    assert "sysonly" not in md.files and "sysonly" not in ours.by_file()


def _annotation(turns, rec):
    """pyannote annotation with each speaker's overlapping turns merged first
    (pyannote does not merge them for DER; dscore does)."""
    from pyannote.core import Annotation, Segment

    by_spk = {}
    for t in turns:
        if t.recording == rec:
            by_spk.setdefault(t.speaker, []).append((t.start, t.end))
    ann = Annotation(uri=rec)
    i = 0
    for spk, spans in by_spk.items():
        for s, e in merge_intervals(spans):
            ann[Segment(s, e), i] = spk
            i += 1
    return ann


@pytest.mark.parametrize("seed", [3, 4])
def test_matches_pyannote_at_collar_zero(seed):
    from pyannote.metrics.diarization import DiarizationErrorRate

    ref, hyp = _data(seed)
    ours = score_diarization(ref, hyp)
    metric = DiarizationErrorRate(collar=0.0, skip_overlap=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for f in ours.files:
            value = 100 * metric(_annotation(ref, f.file_id), _annotation(hyp, f.file_id))
            assert f.der.der == pytest.approx(value, abs=0.01), f.file_id
        assert ours.overall.der == pytest.approx(100 * abs(metric), abs=0.01)


def _brute_force_jer(ref, hyp, on, off, step=0.01):
    """Frame loop + exhaustive assignment minimising the summed JER (dscore's definition)."""
    n = int(off / step)
    times = [step * i for i in range(n)]
    keep = [i for i, t in enumerate(times) if on <= t < off]

    def frames(turns):
        spk = {}
        for t in turns:
            s = spk.setdefault(t.speaker, set())
            s.update(i for i in keep if t.start <= times[i] < t.end)
        return [spk[k] for k in sorted(spk)]

    r, h = frames(ref), frames(hyp)
    if not r:
        return 100.0 if h else 0.0
    if not h:
        return 100.0

    def pair(a, b):
        u = len(a | b)
        return 1.0 - len(a & b) / u if u else 0.0

    best = None
    k = min(len(r), len(h))
    for rs in itertools.combinations(range(len(r)), k):
        for hs in itertools.permutations(range(len(h)), k):
            cost = sum(pair(r[i], h[j]) for i, j in zip(rs, hs))
            if best is None or cost < best[0]:
                best = (cost, rs)
    total = best[0] + (len(r) - k)
    return 100.0 * total / len(r)


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_jer_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    ref, hyp = [], []
    for i in range(3):
        r = random_reference(f"r{i}", rng, n_speakers=2 + i, duration=40.0,
                             mean_turn=3.0, mean_pause=5.0)
        ref += r
        hyp += random_system(r, rng, jitter=0.4, p_confuse=0.3, extra_speakers=1 - i % 2)
    ours = score_diarization(ref, hyp)
    uem = default_uem(ref, hyp)
    for f in ours.files:
        (on, off), = uem[f.file_id]
        expect = _brute_force_jer([t for t in ref if t.recording == f.file_id],
                                  [t for t in hyp if t.recording == f.file_id], on, off)
        assert f.jer.jer == pytest.approx(expect, abs=1e-9), f.file_id
