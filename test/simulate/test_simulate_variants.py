"""Formant-warped espeak-ng variants: the variant text, private data dirs, the warped pool."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from espnet_tagspeech.simulate import espeak as E
from espnet_tagspeech.simulate import variants as W
from espnet_tagspeech.simulate import voices as V

needs_library = pytest.mark.skipif(E.find_library() is None, reason="libespeak-ng is not installed")
needs_both = pytest.mark.skipif(E.find_library() is None or shutil.which("espeak-ng") is None,
                                reason="libespeak-ng or the espeak-ng command is missing")  # fmt: skip

STOCK = """language variant
name demo
gender female

pitch 142 220
formant 0 105  80 150
formant 1 110  80 160
formant 3 90 70 140
formant 3 120 60 130
breath 0 2 3 3 3 3 3 2
"""


def _formants(text):
    last = {}
    for line in text.splitlines():
        m = W._FORMANT_LINE.match(line)
        if m:
            last[int(m.group(1))] = tuple(int(m.group(i)) for i in (2, 3, 4))
    return last


def test_warp_scales_each_formant_from_the_variants_last_line_or_the_default():
    warp = W.VoiceWarp(freq=(1.1, 0.9, 1.2, 1.0, 0.8), height=(1.0, 1.25, 0.8, 1.0, 1.0))
    text = W.warp_variant_text(STOCK, warp)
    assert text.startswith(STOCK.rstrip("\n"))  # the stock lines (breath, pitch...) stay
    got = _formants(text)
    assert got[0] == (105, 80, 150)  # formant 0 is left alone
    assert got[1] == (121, 80, 160)
    assert got[2] == (90, 125, 100)  # absent in the stock file: from espeak-ng's 100 %
    assert got[3] == (144, 48, 130)  # the last of two stock lines is the one in force
    assert got[4] == (100, 100, 100) and got[5] == (80, 100, 100)


def test_voice_warp_checks_its_factors_and_draws_reproducibly():
    with pytest.raises(ValueError, match="5 frequency and 5 height"):
        W.VoiceWarp(freq=(1.0, 1.0), height=(1.0,) * 5)
    with pytest.raises(ValueError, match=r"\[0.5, 2\]"):
        W.VoiceWarp(freq=(1.0,) * 4 + (3.0,), height=(1.0,) * 5)
    a = [W.VoiceWarp.draw(np.random.default_rng(3)) for _ in range(2)]
    assert a[0] == a[1] and a[0].tag == a[1].tag
    warps = [W.VoiceWarp.draw(np.random.default_rng(s)) for s in range(200)]
    lo, hi = W.SHARED_RANGE[0] * W.OWN_RANGE[0], W.SHARED_RANGE[1] * W.OWN_RANGE[1]
    assert all(lo - 1e-3 <= f <= hi + 1e-3 for w in warps for f in w.freq)
    assert all(W.HEIGHT_RANGE[0] - 1e-3 <= h <= W.HEIGHT_RANGE[1] + 1e-3 for w in warps for h in w.height)
    # the shared factor moves all five formants together: voices reach both ends of the range
    means = [np.mean(w.freq) for w in warps]
    assert min(means) < 0.92 and max(means) > 1.1
    assert len({w.tag for w in warps}) == 200
    name = W.warped_variant_name("Mr serious", warps[0])
    assert " " not in name and len(name) <= 12 and name != W.warped_variant_name("m3", warps[0])


def test_echo_breath_and_voicing_follow_the_stock_lines_and_change_the_tag_only_when_set():
    plain = W.VoiceWarp(freq=(1.0,) * 5, height=(1.0,) * 5)
    warp = W.VoiceWarp(freq=(1.0,) * 5, height=(1.0,) * 5, echo=(45, 60), breath=(0, 4, 5, 2, 3, 13, 3, 2),
                       voicing=38)  # fmt: skip
    assert not any(ln.split()[0] in ("echo", "voicing") for ln in W.warp_variant_text(STOCK, plain).splitlines()
                   if ln.strip())  # fmt: skip
    lines = W.warp_variant_text("echo 140 10\n" + STOCK, warp).splitlines()
    # the last line of a kind is the one in force: the warp's come after the stock ones
    assert [ln for ln in lines if ln.startswith("echo")] == ["echo 140 10", "echo 45 60"]
    assert [ln for ln in lines if ln.startswith("breath")][-1] == "breath 0 4 5 2 3 13 3 2"
    assert lines[-1] == "voicing 38"
    # a warp without them keeps the digest (and so the cache key) it had before they existed
    assert plain.tag == "38680f87" and warp.tag != plain.tag
    assert len({plain.tag, warp.tag, W.VoiceWarp((1.0,) * 5, (1.0,) * 5, voicing=38).tag}) == 3
    for bad in [{"echo": (45,)}, {"echo": (600, 10)}, {"echo": (45, 101)}, {"breath": (1,) * 7},
                {"breath": (1,) * 7 + (101,)}, {"voicing": 5}]:  # fmt: skip
        with pytest.raises(ValueError, match=next(iter(bad))):
            W.VoiceWarp(freq=(1.0,) * 5, height=(1.0,) * 5, **bad)


def test_effects_are_drawn_over_the_stock_span_and_kept_in_the_share_asked():
    draws = [W.draw_effects(np.random.default_rng(s), 0.5) for s in range(400)]
    for key in ("echo", "breath", "voicing"):
        assert 0.4 < np.mean([key in d for d in draws]) < 0.6
    echoes = [d["echo"] for d in draws if "echo" in d]
    assert all(W.ECHO_DELAY_RANGE[0] <= e <= W.ECHO_DELAY_RANGE[1] and W.ECHO_AMP_RANGE[0] <= a <= W.ECHO_AMP_RANGE[1]
               for e, a in echoes)  # fmt: skip
    assert max(a for _, a in echoes) > 70 and min(a for _, a in echoes) < 20
    voicings = [d["voicing"] for d in draws if "voicing" in d]
    assert min(voicings) < 40 and max(voicings) > 140 and all(W.VOICING_RANGE[0] <= v <= W.VOICING_RANGE[1] for v in voicings)
    assert all(len(d["breath"]) == 8 for d in draws if "breath" in d)
    # whatever the share, a seed draws the same values: only what is kept changes
    every, none = W.draw_effects(np.random.default_rng(7), 1.0), W.draw_effects(np.random.default_rng(7), 0.0)
    assert none == {} and set(every) == {"echo", "breath", "voicing"}
    W.VoiceWarp((1.0,) * 5, (1.0,) * 5, **every)  # a valid warp


def test_private_data_dir_holds_the_system_data_and_one_warped_variant(tmp_path):
    system = tmp_path / "system" / "espeak-ng-data"
    (system / "voices" / "!v").mkdir(parents=True)
    (system / "voices" / "!v" / "demo").write_text(STOCK)
    (system / "phontab").write_bytes(b"x")
    (system / "lang").mkdir()
    warp = W.VoiceWarp(freq=(1.1,) * 5, height=(1.0,) * 5)
    dirs = W.WarpedDataDir(system, root=tmp_path / "private")
    top = dirs.add("demo", warp)
    data = Path(top) / "espeak-ng-data"
    assert Path(top).parent == tmp_path / "private" and Path(top).name.startswith(W.warped_variant_name("demo", warp))
    assert (data / "phontab").resolve() == (system / "phontab").resolve()
    assert (data / "lang").is_symlink()
    variant_files = list((data / "voices" / "!v").iterdir())
    assert [f.name for f in variant_files] == [W.warped_variant_name("demo", warp)]
    assert _formants(variant_files[0].read_text())[1] == (121, 80, 160)
    assert dirs.add("demo", warp) == top  # made once
    with pytest.raises(ValueError, match="no variant 'nobody'"):
        dirs.add("nobody", warp)
    assert [p.name for p in (tmp_path / "private").iterdir()] == [Path(top).name]  # no build dir left
    # another process (a new object) finds the same directory
    assert W.WarpedDataDir(system, root=tmp_path / "private").add("demo", warp) == top


def test_the_warped_pool_adds_warped_training_voices_and_keeps_dev_and_test():
    open_train, warped_train = V.voice_pool("train", "open"), V.voice_pool("train", "warped")
    assert warped_train[: len(open_train)] == open_train
    extra = warped_train[len(open_train) :]
    assert len(extra) == 2 * V.WARPED_PER_GENDER and all(v.warp is not None for v in extra)
    assert len({v.name for v in warped_train}) == len(warped_train)
    assert len({v.key for v in warped_train}) == len(warped_train)
    train_variants = {(v, g) for v, g in V.OPEN_VARIANTS["train"]}
    assert {(v.variant, v.gender) for v in extra} == train_variants  # every training variant, no other
    for split in ("dev", "test"):
        assert V.voice_pool(split, "warped") == V.voice_pool(split, "open")
    assert all(v.warp is None for v in open_train)
    # a stock voice's cache key is what it was before warps existed
    assert open_train[0].key == "en-us+klatt_p20_s185_v3"
    # about WARPED_EFFECT_SHARE of the warped voices echo (breathe, ...), in both genders
    for key in ("echo", "breath", "voicing"):
        having = [v for v in extra if getattr(v.warp, key) is not None]
        assert abs(len(having) / len(extra) - V.WARPED_EFFECT_SHARE) < 0.1
        assert {v.gender for v in having} == {"m", "f"}


@needs_library
def test_a_warped_voice_sounds_different_and_the_stock_voice_does_not_change():
    voice = next(v for v in V.voice_pool("train", "warped") if v.warp is not None and v.variant == "m3")
    stock = V.Voice(voice.name, voice.language, voice.variant, voice.pitch, voice.speed, voice.gender)
    before = V.synthesize_word(stock, "budget")
    warped = V.synthesize_word(voice, "budget")
    assert not (len(warped) == len(before) and np.array_equal(warped, before))
    assert np.array_equal(V.synthesize_word(voice, "budget"), warped)  # deterministic
    assert np.array_equal(V.synthesize_word(stock, "budget"), before)


@needs_library
def test_every_accent_speaks_the_longest_warped_variant_names():
    # libespeak-ng aborts on long voice names (the first warped names did with en-gb-x-gbcwmd)
    longest = sorted({v for v, _ in V.OPEN_VARIANTS["train"]}, key=len)[-2:]
    warp = W.VoiceWarp(freq=(1.1,) * 5, height=(1.0,) * 5)
    for accent in V.ACCENTS:
        for variant in longest:
            voice = V.Voice("m999", accent, variant, 50, 200, "m", warp)
            assert len(V.synthesize_word(voice, "ok")) > 1000, voice


@needs_both
def test_both_engines_speak_a_warped_voice_alike():
    voice = next(v for v in V.voice_pool("train", "warped") if v.warp is not None and v.variant == "f2")
    path = W.warped_data_dir().add(voice.variant, voice.warp)
    req = (voice.espeak_voice, voice.pitch, voice.speed, "friday", path)
    library = E.LibrarySynthesizer(E.find_library())
    try:
        assert library.samples(*req) == E.CommandSynthesizer(shutil.which("espeak-ng")).samples(*req)
    finally:
        library.close()
