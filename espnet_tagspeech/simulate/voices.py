"""Speakers made of espeak-ng voices, and a cache of their synthesized words.

A speaker is a fixed espeak-ng voice (accent + variant such as ``en-us+m3``),
pitch and speed, with the gender of its variant.  Words are synthesized one at
a time, each independent of the words synthesized before it (see
:mod:`espnet_tagspeech.simulate.espeak`), resampled from 22.05 kHz to 16 kHz,
and trimmed to the frames whose energy is within ``TRIM_DB`` of the word's
loudest frame.  A word placed at sample ``n`` of a meeting therefore occupies
exactly ``[n, n + len(clip))``: word timings are exact by construction.

Speaker pools:

* ``open`` (default): 140 voices from the variants of espeak-ng 1.51, whose
  train, dev and test splits use disjoint variants (see ``OPEN_VARIANTS``), so
  dev and test speakers are voices a model never heard.
* ``warped``: ``open`` plus 216 training voices whose variants' formants are
  warped (:mod:`.variants`), so that training voices also lie between the stock
  variants; dev and test are ``open``'s.
* ``closed``: the original 16 voices, shared by every split;
  ``closed_disjoint`` splits them 8 / 4 / 4.

Clips are cached per voice in ``<cache_dir>/<voice key>.npz`` (int16), written
atomically, so repeated runs and several splits synthesize every
(voice, word) pair once.
"""

import logging
import math
from collections import OrderedDict
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from espnet_tagspeech.data.atomic import atomic_write
from espnet_tagspeech.simulate.espeak import (  # noqa: F401 - re-exported
    INSTALL_HINT,
    EspeakNotFoundError,
    get_synthesizer,
    resolve_engine,
)
from espnet_tagspeech.simulate.grammar import SPLITS
from espnet_tagspeech.simulate.variants import VoiceWarp, draw_effects, warped_data_dir, warped_variant_name

SAMPLE_RATE = 16000
TRIM_FRAME = 80  # 5 ms at 16 kHz
TRIM_DB = 30.0
_CACHE_VERSION = "v3"  # bump whenever synthesis, resampling or trimming changes


@dataclass(frozen=True)
class Voice:
    """One synthetic speaker.

    Args:
        name: Speaker label used in every output file (e.g. ``f03``).
        language: espeak-ng language (``en-us``, ``en``, ``en-gb-scotland``...).
        variant: espeak-ng variant (``m3``, ``f2``, ``klatt``...).
        pitch: espeak-ng pitch 0-99.
        speed: Words per minute.
        gender: ``m`` or ``f``.
        warp: Formant factors applied to the variant (a new voice between the stock
            ones, see :mod:`.variants`); None speaks the stock variant.
    """

    name: str
    language: str
    variant: str
    pitch: int
    speed: int
    gender: str
    warp: Optional[VoiceWarp] = None

    @property
    def espeak_voice(self) -> str:
        """The ``-v`` argument of espeak-ng."""
        variant = self.variant if self.warp is None else warped_variant_name(self.variant, self.warp)
        return f"{self.language}+{variant}"

    @property
    def key(self) -> str:
        """A file-name-safe key identifying the synthesis settings."""
        warp = "" if self.warp is None else f"_w{self.warp.tag}"
        return f"{self.language}+{self.variant}_p{self.pitch}_s{self.speed}{warp}_{_CACHE_VERSION}"


VOICES: Sequence[Voice] = (
    Voice("m01", "en-us", "m3", 50, 210, "m"),
    Voice("f01", "en-us", "f2", 60, 205, "f"),
    Voice("m02", "en-us", "m7", 30, 195, "m"),
    Voice("f02", "en-us", "f3", 75, 215, "f"),
    Voice("m03", "en", "m1", 45, 220, "m"),
    Voice("f03", "en", "f4", 50, 200, "f"),
    Voice("m04", "en-us", "klatt", 40, 205, "m"),
    Voice("f04", "en-us", "f5", 65, 225, "f"),
    Voice("m05", "en-gb-scotland", "m2", 55, 205, "m"),
    Voice("f05", "en", "f1", 80, 210, "f"),
    Voice("m06", "en-us", "m4", 20, 215, "m"),
    Voice("f06", "en-gb-scotland", "f2", 45, 195, "f"),
    Voice("m07", "en", "m6", 60, 200, "m"),
    Voice("f07", "en-us", "f1", 55, 220, "f"),
    Voice("m08", "en-029", "m8", 35, 210, "m"),
    Voice("f08", "en-us", "f4", 85, 205, "f"),
)
"""The closed pool: 8 male and 8 female voices, chosen to differ clearly."""

POOLS = ("open", "warped", "closed", "closed_disjoint")

# The English accents of espeak-ng 1.51 (the mbrola ``mb-*`` voices need mbrola, absent here).
ACCENTS = ("en-us", "en", "en-gb-x-rp", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-gbcwmd",
           "en-029", "en-us-nyc")  # fmt: skip
SPEEDS = (185, 195, 205, 215, 225)  # words per minute, around the closed pool's 210
PITCH_RANGE = (20, 80)  # espeak-ng pitch; beyond it female variants squeak, male ones sound female

# Variants of ``espeak-ng --voices=variant`` (file names) per split, with their gender.
# Distances below are RMS differences of the mean log band energies of one sentence
# (en-us, pitch 50); variants of one near-copy family (klatt2-5, iven1-4, f4/aunty/f1...)
# are <= 0.9 apart.  Dev and test hold variants >= 1.0 from every training variant
# (nearest: Jacky-antonio 1.03, ed-grandpa 1.22, Nguyen-m7 1.31, travis-robert 1.39,
# AnxiousAndy-Alex 1.40, shelby-f4 1.44, Marco-antonio 1.55, Lee-quincy 1.58,
# kaukovalta-victor 1.62, grandma-f2 1.66, Alicia-Annie 1.70, anika-Andrea 1.89,
# steph-f1 2.14), and each held-out split gets 3 female and 4 male variants.
# Training variants are listed by family so that neighbours in the list (which get
# different accents and distant pitches, see ``_open_pool``) are the similar ones.
_TRAIN_MALE = (
    "klatt", "klatt2", "klatt3", "klatt4", "klatt5", "edward", "benjamin", "edward2", "david",
    "john", "Mr serious", "m2", "m5", "m6", "Alex", "Tweaky", "m3", "croak", "grandpa", "max",
    "pedro", "norbert", "boris", "m1", "m4", "Mike", "iven", "iven2", "iven3", "iven4",
    "marcelo", "Mario", "Michael", "gustave", "m7", "Gene2", "Gene", "Diogo", "Henrique",
    "Hugo", "michel", "miguel", "antonio", "Denis", "victor", "Storm", "rob", "robert",
    "pablo", "paul", "quincy", "m8", "Andy", "sandro",
)  # fmt: skip
_TRAIN_FEMALE = ("f4", "aunty", "f1", "f2", "f5", "f3", "linda", "belinda", "Annie", "Andrea")
OPEN_VARIANTS: Dict[str, Tuple[Tuple[str, str], ...]] = {
    "train": tuple((v, "m") for v in _TRAIN_MALE) + tuple((v, "f") for v in _TRAIN_FEMALE),
    "dev": (("Lee", "m"), ("travis", "m"), ("Jacky", "m"), ("AnxiousAndy", "m"),
            ("anika", "f"), ("steph", "f"), ("steph3", "f")),  # fmt: skip
    # shelby is listed as male only because its file has no gender line: F0 ~180 Hz, raised formants
    "test": (("kaukovalta", "m"), ("Nguyen", "m"), ("Marco", "m"), ("ed", "m"),
             ("Alicia", "f"), ("grandma", "f"), ("shelby", "f")),  # fmt: skip
}
_ROBOTIC = "echo at espeak-ng's 39 % ceiling: metallic or robotic"
EXCLUDED_VARIANTS: Dict[str, str] = {
    "whisper": "whispered (about 10 % voiced frames)",
    "whisperf": "whispered (about 10 % voiced frames)",
    **{v: _ROBOTIC for v in ("robosoft", "robosoft2", "robosoft3", "robosoft4", "robosoft5",
                             "robosoft6", "robosoft7", "robosoft8", "UniRobot", "anikaRobot",
                             "RicishayMax", "RicishayMax2", "RicishayMax3", "Demonic")},  # fmt: skip
    "announcer": "public-address effect (154 ms echo, 42 % voiced frames)",
    "caleb": "synthesizes exactly like klatt",
    "klatt6": "synthesizes exactly like klatt",
    "adam": "near-copy of klatt (distance 0.03)",
    "steph2": "near-copy of steph3 (distance 0.08)",
    "fast": "the default voice with an experimental speed-up, not a voice",
    "zac": "a child's voice (F0 ~350 Hz) listed as male",
}
# speakers per (split, gender) of the open pool; names count from 1, 101, 201 per split
OPEN_SIZES: Dict[str, Dict[str, int]] = {
    "train": {"m": 54, "f": 54},  # every training variant speaks at least once
    "dev": {"m": 8, "f": 8},
    "test": {"m": 8, "f": 8},
}
_NAME_BASE = {"train": 0, "dev": 100, "test": 200}


def _open_pool(split: str) -> List[Voice]:
    """The open-pool voices of ``split``: each variant spoken at a few pitches and accents.

    Voice ``k`` of a gender takes variant ``j = k mod V`` (``V`` variants) in round
    ``t = k div V``.  A variant's ``r`` voices get ``r`` evenly spaced pitches, offset
    by the golden ratio of ``j`` so that neighbouring variants get distant pitches,
    and accents ``3t + j`` (mod 8), all distinct.
    """
    voices = []
    for gender in ("m", "f"):
        variants = [v for v, g in OPEN_VARIANTS[split] if g == gender]
        n, nv = OPEN_SIZES[split][gender], len(variants)
        lo, hi = PITCH_RANGE
        for k in range(n):
            j, t = k % nv, k // nv
            rounds = (n - j + nv - 1) // nv  # how many voices variant j gets
            phase = (j * 89) % 144  # 89/144 ~ golden ratio: neighbours' pitches far apart
            pitch = lo + ((hi - lo) * (t * 144 + phase)) // (144 * rounds)
            name = f"{gender}{_NAME_BASE[split] + k + 1:03d}"
            accent = ACCENTS[(j + 3 * t) % len(ACCENTS)]
            speed = SPEEDS[(2 * j + 3 * t) % len(SPEEDS)]
            voices.append(Voice(name, accent, variants[j], pitch, speed, gender))
    return voices


WARPED_PER_GENDER = 108  # warped training voices per gender (two per male variant), beside 54 stock ones
# each of echo, breath and voicing is set in this share of the warped voices
# (``variants.draw_effects``), drawn from a stream of their own: the formant warps stay the same
WARPED_EFFECT_SHARE = 0.5
_WARP_SEED = 20261207
_WARP_NAME_BASE = 500  # warped voices are m501..., f501...: apart from every split's stock names


def _warped_pool(split: str) -> List[Voice]:
    """The open pool, with ``WARPED_PER_GENDER`` training voices per gender whose formants are warped.

    Warped voice ``k`` of a gender speaks training variant ``k mod V`` with its
    formants warped (:meth:`VoiceWarp.draw`), at a pitch, speed and accent drawn
    with it, and about half of them breathy, echoing or with little voicing
    (``WARPED_EFFECT_SHARE``); dev and test keep the open pool's held-out stock variants.
    """
    voices = _open_pool(split)
    if split != "train":
        return voices
    rng = np.random.default_rng(_WARP_SEED)
    effect_rng = np.random.default_rng(_WARP_SEED + 1)
    for gender in ("m", "f"):
        variants = [v for v, g in OPEN_VARIANTS["train"] if g == gender]
        for k in range(WARPED_PER_GENDER):
            warp = VoiceWarp.draw(rng)
            warp = dataclasses.replace(warp, **draw_effects(effect_rng, WARPED_EFFECT_SHARE))
            pitch = int(rng.integers(PITCH_RANGE[0], PITCH_RANGE[1] + 1))
            accent = ACCENTS[int(rng.integers(len(ACCENTS)))]
            speed = SPEEDS[int(rng.integers(len(SPEEDS)))]
            name = f"{gender}{_WARP_NAME_BASE + k + 1:03d}"
            voices.append(Voice(name, accent, variants[k % len(variants)], pitch, speed, gender, warp))
    return voices


def voice_pool(split: str, pool: str = "open") -> List[Voice]:
    """The voices a split draws its speakers from.

    Args:
        split: ``train``, ``dev`` or ``test``.
        pool: ``open`` (default): disjoint variants per split, 108 / 16 / 16 voices;
            ``warped``: ``open`` with 216 more training voices whose formants are
            warped (324 / 16 / 16; the held-out dev and test voices unchanged);
            ``closed``: the 16 closed voices for every split; ``closed_disjoint``:
            train gets 8 closed voices, dev and test 4 each (2 male + 2 female), disjoint.

    Raises:
        ValueError: for an unknown split or pool.
    """
    if pool not in POOLS:
        raise ValueError(f"unknown voice pool {pool!r}; choose one of {', '.join(POOLS)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if pool == "open":
        return _open_pool(split)
    if pool == "warped":
        return _warped_pool(split)
    if pool == "closed":
        return list(VOICES)
    # positions in VOICES alternate m/f, so each residue class keeps the balance
    wanted = {"train": (0, 1), "dev": (2,), "test": (3,)}[split]
    return [v for i, v in enumerate(VOICES) if (i // 2) % 4 in wanted]


def check_espeak(engine: str = "auto") -> str:
    """Describe the espeak-ng engine that will be used (``library: libespeak-ng.so.1``).

    Raises:
        EspeakNotFoundError: naming what is missing, with installation advice.
    """
    kind, target = resolve_engine(engine)
    return f"{kind}: {target}"


def _smooth_at_least(n: int) -> int:
    """The smallest ``2^a 3^b 5^c >= n`` (an FFT-friendly factor)."""
    best = 1 << max(n - 1, 0).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Band-limited resampling of a short clip through the FFT (float64 in/out)."""
    if sr_in == sr_out or len(x) == 0:
        return x.astype(np.float64)
    n_out = int(round(len(x) * sr_out / sr_in))
    g = math.gcd(sr_in, sr_out)
    q, p = sr_in // g, sr_out // g  # 441 -> 320 for 22.05 -> 16 kHz
    # zero padding keeps the circular wrap-around silent; q * (5-smooth) lengths make both
    # FFTs fast (an arbitrary length may hold a large prime factor) and the ratio exact
    m = _smooth_at_least(-(-(len(x) + len(x) // 8 + 64) // q))
    xp = np.concatenate([x, np.zeros(q * m - len(x))])
    spec = np.fft.rfft(xp)
    keep = min(len(spec), p * m // 2 + 1)
    y = np.fft.irfft(spec[:keep], p * m) * (p / q)
    return y[:n_out]


def trim(x: np.ndarray, frame: int = TRIM_FRAME, db: float = TRIM_DB) -> np.ndarray:
    """Cut leading and trailing frames quieter than ``db`` below the loudest frame."""
    n = len(x) // frame
    if n == 0:
        return x[:0]
    rms = np.sqrt(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1))
    peak = rms.max()
    if peak <= 0:
        return x[:0]
    active = np.nonzero(rms >= peak * 10 ** (-db / 20))[0]
    return x[active[0] * frame : (active[-1] + 1) * frame]


def _to_clip(raw: bytes, sr: int, voice: Voice, word: str) -> np.ndarray:
    """Trimmed 16 kHz int16 clip of espeak-ng's little-endian int16 samples at ``sr``."""
    clip = trim(resample(np.frombuffer(raw, dtype="<i2").astype(np.float64), sr, SAMPLE_RATE))
    if len(clip) == 0:
        raise RuntimeError(f"espeak-ng produced silence for {word!r} ({voice.espeak_voice})")
    return np.clip(np.round(clip), -32768, 32767).astype(np.int16)


def synthesize_words(voice: Voice, words: Sequence[str], engine: str = "auto") -> List[np.ndarray]:
    """Synthesize words with ``voice``, each on its own: trimmed 16 kHz int16 clips.

    A word's clip does not depend on the other words (see :mod:`.espeak`).

    Args:
        voice: The speaker.
        words: The texts to say.
        engine: ``auto``, ``library`` or ``command`` (see :mod:`.espeak`).

    Raises:
        EspeakNotFoundError: if espeak-ng is missing.
        RuntimeError: if espeak-ng fails or produces silence.
    """
    synth = get_synthesizer(engine)
    data_path = None
    if voice.warp is not None:  # its variant file lives in a private data dir of this process
        data_path = warped_data_dir().add(voice.variant, voice.warp)
    clips = []
    for word in words:
        raw, sr = synth.samples(voice.espeak_voice, voice.pitch, voice.speed, word, data_path)
        clips.append(_to_clip(raw, sr, voice, word))
    return clips


def synthesize_word(voice: Voice, word: str, engine: str = "auto") -> np.ndarray:
    """Synthesize one word with ``voice``: trimmed 16 kHz int16 samples (see ``synthesize_words``)."""
    return synthesize_words(voice, [word], engine)[0]


class WordBank:
    """Trimmed word clips per voice, backed by an optional on-disk cache.

    Args:
        cache_dir: Directory of ``<voice key>.npz`` files, or ``None`` for memory only.
        engine: espeak-ng engine for missing words (``auto``, ``library``, ``command``).
        max_voices: Voices kept in memory when there is a cache to reload them from
            (least recently used ones are dropped; ~5 MB per voice of 325 words).
    """

    def __init__(self, cache_dir: Optional[Path] = None, engine: str = "auto",
                 max_voices: int = 128) -> None:  # fmt: skip
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.engine = engine
        self.max_voices = max_voices
        self._clips: "OrderedDict[str, Dict[str, np.ndarray]]" = OrderedDict()

    def _file(self, voice: Voice) -> Optional[Path]:
        return None if self.cache_dir is None else self.cache_dir / f"{voice.key}.npz"

    def _load(self, voice: Voice) -> Dict[str, np.ndarray]:
        if voice.key in self._clips:
            self._clips.move_to_end(voice.key)
            return self._clips[voice.key]
        clips: Dict[str, np.ndarray] = {}
        path = self._file(voice)
        if path is not None and path.is_file():
            with np.load(path) as data:
                clips = {k: data[k] for k in data.files}
        self._clips[voice.key] = clips
        # every clip in memory is also on disk (ensure() saves), so dropping one loses nothing
        while self.cache_dir is not None and len(self._clips) > max(self.max_voices, 1):
            self._clips.popitem(last=False)
        return clips

    def missing(self, voice: Voice, words: Iterable[str]) -> List[str]:
        """The words of ``words`` not yet synthesized for ``voice`` (sorted)."""
        have = self._load(voice)
        return sorted(set(words) - set(have))

    def ensure(self, voice: Voice, words: Iterable[str]) -> int:
        """Synthesize the missing words of ``voice`` and save the cache file.

        Returns:
            How many words were synthesized.
        """
        todo = self.missing(voice, words)
        if not todo:
            return 0
        clips = self._load(voice)
        clips.update(zip(todo, synthesize_words(voice, todo, self.engine)))
        path = self._file(voice)
        if path is not None:
            with atomic_write(path, "wb") as f:
                np.savez(f, **{k: clips[k] for k in sorted(clips)})
        logging.debug("synthesized %d words for %s", len(todo), voice.name)
        return len(todo)

    def clip(self, voice: Voice, word: str) -> np.ndarray:
        """The int16 clip of ``word`` spoken by ``voice`` (synthesized if needed)."""
        clips = self._load(voice)
        if word not in clips:
            self.ensure(voice, [word])
        return clips[word]
