#!/usr/bin/env python3
"""cpWER and speaker-agnostic WER of an SOT ASR hypothesis with one pseudo-speaker per
``<sc>`` segment per window, by the project's word scorer (meeteval underneath).

Why not ``python -m espnet_tagspeech.bin.score_words --metrics cpwer wer`` as it is:
meeteval refuses any recording of more than 20 speakers ("Are you sure?"), and a 40-60 s
test meeting cut into 5-10 windows of 1-4 segments has more pseudo-speakers than that.
So this script calls the same library function
(``espnet_tagspeech.scoring.wer.score_words``) with ``cpwer`` and ``wer`` only, on the
hypothesis speakers that an optimal cpWER assignment can use
(``peerlib.prune_hypothesis_speakers``, exact), and counts each word of the other
pseudo-speakers as the insertion cpWER makes of it.  tcpWER is not computed: the ASR's
only times are its windows'.

Writes ``--json`` in the layout of ``score_words --json`` (``overall.cpwer.wer``, ...).

Example::

    python local/score_sot.py -r ../tagspeech1/dump/mini/raw/test/ref.seglst.json \\
        --hyp exp/sot/decode_test/hyp.seglst.json --json exp/sot/decode_test/words.json
"""

import argparse
import logging
import sys
from pathlib import Path
from typing import List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

logger = logging.getLogger("score_sot")


def get_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-r", "--ref", required=True, help="reference SegLST (.json) or STM")
    p.add_argument("--hyp", required=True, help="hypothesis SegLST (.json)")
    p.add_argument("--json", required=True, help="numbers to this JSON file")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    """Score; returns the exit status."""
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from espnet_tagspeech.data.errors import DataFormatError
    from espnet_tagspeech.data.formats import load_turns
    from espnet_tagspeech.scoring.io import write_json
    from espnet_tagspeech.scoring.wer import WerCounts, WordScores, score_words
    from peerlib import prune_hypothesis_speakers

    try:
        ref, hyp = load_turns(args.ref), load_turns(args.hyp)
    except DataFormatError as e:
        logger.error("%s", e)
        return 1
    if not ref:
        logger.error("no reference segments in %s", args.ref)
        return 1
    ref_recs = {t.recording for t in ref}
    hyp = [t for t in hyp if t.recording in ref_recs]

    def distance(r: list, h: list) -> int:
        return score_words(r, h, metrics=("cpwer",)).overall["cpwer"].errors

    kept, dropped = prune_hypothesis_speakers(ref, hyp, distance)
    cp = score_words(ref, kept, metrics=("cpwer",))
    agnostic = score_words(ref, hyp, metrics=("wer",))
    per, overall = {}, {"cpwer": WerCounts(), "wer": agnostic.overall["wer"]}
    for rec, ms in cp.per_recording.items():
        c, extra = ms["cpwer"], dropped.get(rec, 0)
        c = WerCounts(c.errors + extra, c.length, c.substitutions, c.deletions, c.insertions + extra)
        per[rec] = {"cpwer": c, "wer": agnostic.per_recording[rec]["wer"]}
        overall["cpwer"] = overall["cpwer"] + c
    scores = WordScores(per, overall, agnostic.speaker_counts, agnostic.hyp_only, collar=0.0)
    data = scores.as_dict()
    n_hyp = {rec: h for rec, (_, h) in agnostic.speaker_counts.items()}
    n_dropped = sum(n_hyp.values()) - len({(t.recording, t.speaker) for t in kept})
    data["note"] = (
        "SOT ASR: one pseudo-speaker per <sc> segment per window; cpWER over the "
        "pseudo-speakers an optimal assignment can use, each word of the others an insertion "
        f"({sum(dropped.values())} words of {n_dropped} pseudo-speakers); no tcpWER (no times "
        "but the windows')"
    )
    write_json(args.json, data)
    print(f"cpWER {overall['cpwer'].rate:.2f} %  WER (speaker agnostic) {overall['wer'].rate:.2f} %  "
          f"pseudo-speakers per recording {sum(n_hyp.values()) / max(1, len(n_hyp)):.1f} "
          f"(reference {sum(r for r, _ in agnostic.speaker_counts.values()) / max(1, len(n_hyp)):.1f})")
    logger.info("wrote %s", args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
