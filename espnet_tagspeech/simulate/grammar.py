"""A small generative grammar of meeting talk.

Sentences come from templates whose ``{slots}`` are filled from word classes
("we should move the budget to friday").  The grammar yields hundreds of
thousands of distinct sentences over a vocabulary of a few hundred words;
``vocab_scale`` keeps only the first fraction of every class, which shrinks
the vocabulary (and the number of sentences) for small CPU models.

Train, dev and test use disjoint sentence sets: a sentence belongs to the
split chosen by a hash of its text (:func:`sentence_split`), and sampling for a
split rejects sentences of the other splits.  Every word is lowercase ASCII
letters and apostrophes only, so it never collides with the structure
characters of the TagSpeech target format.
"""

import hashlib
import math
import re
from itertools import product
from typing import Dict, Iterator, List, Sequence, Tuple

import numpy as np

SPLITS = ("train", "dev", "test")
_WORD_RE = re.compile(r"^[a-z']+$")
_SLOT_RE = re.compile(r"\{(\w+)\}")

WORD_CLASSES: Dict[str, Tuple[str, ...]] = {
    "item": (
        "budget", "report", "schedule", "review", "design", "plan", "proposal",
        "prototype", "contract", "website", "database", "release", "survey",
        "presentation", "campaign", "workshop", "invoice", "roadmap", "demo",
        "launch", "interview", "project", "summary", "manual", "training",
        "deadline", "agenda", "brochure", "package", "server",
    ),
    "items": (
        "reports", "slides", "numbers", "results", "costs", "tickets", "samples",
        "charts", "drafts", "notes", "figures", "designs", "emails", "tests",
        "invoices", "orders", "prices", "files", "goals", "screens", "photos",
        "labels", "boxes", "contracts", "forms", "badges", "chairs", "laptops",
    ),
    "verb": (
        "move", "check", "finish", "review", "update", "send", "share", "print",
        "sign", "change", "test", "fix", "start", "cancel", "approve", "delay",
        "present", "discuss", "prepare", "write", "improve", "simplify", "book",
        "order", "plan", "collect", "clean", "count", "label", "translate",
    ),
    "verb_past": (
        "moved", "checked", "finished", "reviewed", "updated", "sent", "shared",
        "printed", "signed", "changed", "tested", "fixed", "started", "cancelled",
        "approved", "delayed", "presented", "discussed", "prepared", "wrote",
        "improved", "booked", "ordered", "collected", "counted", "lost",
    ),
    "day": (
        "monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
        "sunday", "tomorrow", "today", "tonight",
    ),
    "weekday": ("monday", "tuesday", "wednesday", "thursday", "friday"),
    "time": ("morning", "afternoon", "evening", "lunch"),
    "number": (
        "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "twelve", "fifteen", "twenty", "thirty", "forty", "fifty", "sixty",
    ),
    "month": (
        "january", "february", "march", "april", "may", "june", "july", "august",
        "september", "october", "november", "december",
    ),
    "person": (
        "anna", "ben", "carla", "david", "emma", "frank", "grace", "henry",
        "irene", "jack", "kate", "leo", "maria", "nick", "olivia", "peter",
        "rachel", "sam", "tina", "victor", "walter", "zoe",
    ),
    "team": (
        "design", "sales", "marketing", "finance", "legal", "support", "research",
        "product", "hardware", "software", "quality", "security", "travel",
    ),
    "adj": (
        "new", "old", "final", "first", "second", "current", "next", "big",
        "small", "short", "long", "simple", "cheap", "early", "main", "whole",
        "updated", "weekly", "monthly", "yearly", "printed", "digital",
    ),
    "place": (
        "office", "kitchen", "lab", "library", "lobby", "studio", "warehouse",
        "cafe", "garden", "basement", "hotel", "station",
    ),
    "feeling": (
        "happy", "worried", "sure", "confident", "surprised", "concerned",
        "excited", "nervous",
    ),
    "opinion": (
        "good", "great", "fine", "bad", "risky", "tight", "reasonable", "perfect",
        "ready", "late", "tricky", "expensive", "clear", "messy", "solid",
    ),
}
"""Word classes filling the template slots, most useful words first."""

TEMPLATES: Tuple[str, ...] = (
    "we should {verb} the {item} to {day}",
    "can you {verb} the {items} before {day}",
    "i think the {adj} {item} looks {opinion}",
    "let's {verb} the {item} on {weekday} {time}",
    "the {team} team already {verb_past} the {items}",
    "{person} will {verb} the {item} next week",
    "did {person} {verb} the {items} yet",
    "i'm not {feeling} about the {adj} {item}",
    "we need {number} more {items} for the {item}",
    "the {item} is due in {number} days",
    "{person} and {person} are in the {place} today",
    "could we {verb} the {item} to {month}",
    "the {items} from the {team} team are {opinion}",
    "i {verb_past} the {item} with {person} on {day}",
    "let me {verb} the {items} and get back to you",
    "maybe we can {verb} it after the {item}",
    "the {item} costs about {number} hundred dollars",
    "what do you think about the {adj} {item}",
    "i'd like to {verb} the {items} first",
    "we {verb_past} {number} {items} last {weekday}",
    "please {verb} the {item} before the {item}",
    "the {adj} {items} are in the {place}",
    "does the {team} team have the {items}",
    "{person} said the {item} was {opinion}",
    "so the plan is to {verb} the {item} in {month}",
    "we still have {number} {items} to {verb}",
    "i can {verb} the {item} if {person} is busy",
    "the meeting with the {team} team moved to {day}",
    "that sounds {opinion} to me",
    "honestly the {item} is a bit {opinion}",
    "okay let's move on to the {item}",
    "i agree with {person} about the {item}",
    "we could ask {person} to {verb} the {items}",
    "is the {item} still on for {day}",
    "the {items} look {opinion} but the {item} is {opinion}",
    "let's meet in the {place} at {number}",
    "{person} is {feeling} that the {item} will be {opinion}",
    "i will {verb} the {adj} {item} tonight",
    "remind me to {verb} the {items} on {day}",
    "the {team} budget is {number} thousand for {month}",
    "who is going to {verb} the {items}",
    "i was {feeling} when {person} {verb_past} the {item}",
)
"""Sentence templates; ``{class}`` slots are filled independently."""

BACKCHANNELS: Tuple[str, ...] = (
    "yeah", "okay", "right", "mhm", "sure", "exactly", "i see", "got it",
    "yeah right", "okay sure", "true",
)
"""Short listener responses that overlap longer turns ("mm hmm" is written ``mhm``)."""


def sentence_split(sentence: str) -> str:
    """The split a sentence belongs to, by a stable hash of its text.

    About 80 % of sentences go to ``train`` and 10 % each to ``dev`` and ``test``.
    """
    bucket = int.from_bytes(hashlib.sha1(sentence.encode("utf-8")).digest()[:4], "big") % 10
    return "test" if bucket == 0 else "dev" if bucket == 1 else "train"


class Grammar:
    """The meeting-talk grammar, optionally with a reduced vocabulary.

    Args:
        vocab_scale: Fraction in (0, 1] of every word class to keep (at least two
            words per class); 1.0 keeps everything.

    Raises:
        ValueError: if ``vocab_scale`` is outside (0, 1] or a word is not
            lowercase ASCII letters / apostrophes.
    """

    def __init__(self, vocab_scale: float = 1.0) -> None:
        if not 0.0 < vocab_scale <= 1.0:
            raise ValueError(f"vocab_scale must be in (0, 1], got {vocab_scale}")
        self.vocab_scale = vocab_scale
        self.classes: Dict[str, Tuple[str, ...]] = {
            name: words[: max(2, math.ceil(len(words) * vocab_scale))]
            for name, words in WORD_CLASSES.items()
        }
        self.templates: List[List[str]] = [t.split() for t in TEMPLATES]
        for tokens in self.templates:
            for tok in tokens:
                m = _SLOT_RE.fullmatch(tok)
                if m and m.group(1) not in self.classes:
                    raise ValueError(f"template slot {tok} names no word class")
        for word in self.vocabulary():
            if not _WORD_RE.match(word):
                raise ValueError(f"grammar word {word!r} is not lowercase ascii/apostrophes")

    def vocabulary(self) -> List[str]:
        """Every word the grammar can produce (backchannels included), sorted."""
        words = set()
        for tokens in self.templates:
            for tok in tokens:
                m = _SLOT_RE.fullmatch(tok)
                words.update(self.classes[m.group(1)] if m else (tok,))
        for phrase in BACKCHANNELS:
            words.update(phrase.split())
        return sorted(words)

    def _fill(self, tokens: Sequence[str], choose) -> List[str]:
        out = []
        for tok in tokens:
            m = _SLOT_RE.fullmatch(tok)
            out.append(choose(self.classes[m.group(1)]) if m else tok)
        return out

    def sample(self, rng: np.random.Generator, split: str = "train") -> List[str]:
        """Draw one sentence of ``split`` (its words).

        Args:
            rng: Random generator (the only source of randomness).
            split: ``train``, ``dev`` or ``test``.
        """
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        for _ in range(1000):
            tokens = self.templates[int(rng.integers(len(self.templates)))]
            words = self._fill(tokens, lambda c: c[int(rng.integers(len(c)))])
            if sentence_split(" ".join(words)) == split:
                return words
        raise RuntimeError(f"could not draw a {split} sentence (grammar too small?)")

    def sample_backchannel(self, rng: np.random.Generator) -> List[str]:
        """Draw one backchannel phrase (its words)."""
        return BACKCHANNELS[int(rng.integers(len(BACKCHANNELS)))].split()

    def enumerate_sentences(self) -> Iterator[str]:
        """Every sentence the templates can produce (may repeat across templates)."""
        for tokens in self.templates:
            slots = [self.classes[m.group(1)] if m else (tok,)
                     for tok in tokens for m in [_SLOT_RE.fullmatch(tok)]]
            for combo in product(*slots):
                yield " ".join(combo)

    def count_sentences(self) -> int:
        """Number of template fillings (an upper bound on distinct sentences)."""
        total = 0
        for tokens in self.templates:
            n = 1
            for tok in tokens:
                m = _SLOT_RE.fullmatch(tok)
                n *= len(self.classes[m.group(1)]) if m else 1
            total += n
        return total
