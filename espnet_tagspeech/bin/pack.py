"""Pack a trained TagSpeech model into a zip for the ESPnet model zoo.

Usage (from a recipe dir, so that paths inside the config stay relative)::

    python -m espnet_tagspeech.bin.pack --train_config exp/x/config.yaml \\
        --model_file exp/x/valid.acc.ave.pth [--tokenizer dump/tokenizer/tokenizer.model] \\
        [--ngram dump/tokenizer/ngram.json] \\
        [--inference_config conf/decode.yaml] [--segment_config conf/segment.yaml] [--results exp/x/RESULTS.md] \\
        [--images exp/x/images] --outpath exp/x/packed.zip

The archive holds ``meta.yaml`` (ESPnet's layout: ``files`` and ``yaml_files``
keyed by role: :mod:`espnet_tagspeech.decode.packed`), so
``Speech2Tags.from_pretrained(zip)`` and espnet_model_zoo's
``ModelDownloader().download_and_unpack(zip)`` both read it.  Paths to packed
files inside the yaml files are rewritten to the unpacked location on unpack.
"""

import argparse
import logging
import sys
from pathlib import Path
from typing import List, Optional


def check_yaml(path: str) -> None:
    """Check that ``path`` holds a YAML mapping or nothing (a config a packed model could not
    load is not packed).

    Raises:
        DataFormatError: naming the file and, for a syntax error, the line.
    """
    import yaml

    from espnet_tagspeech.data.errors import DataFormatError

    try:
        with open(path, encoding="utf-8") as f:
            conf = yaml.safe_load(f)
    except UnicodeDecodeError as e:
        raise DataFormatError(path, None, f"not UTF-8 ({e.reason} at byte {e.start})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problem = getattr(e, "problem", None) or str(e)
        raise DataFormatError(path, mark.line + 1 if mark else None, f"not valid YAML: {problem}") from None
    if conf is not None and not isinstance(conf, dict):  # (an empty file reads as no options)
        raise DataFormatError(path, None, f"expected a YAML mapping, got {type(conf).__name__}")


def packed_images(images: Path) -> List[str]:
    """The PNGs under ``images`` (the experiment's ``images/``) worth packing: the training
    curves, and the plots of the decode dirs still in the experiment dir (the plots of a
    decode dir moved away or deleted, ``images/<decode dir>/...``, are left out)."""
    exp = images.parent
    out = []
    for x in sorted(images.rglob("*.png")):
        parts = x.relative_to(images).parts
        if len(parts) > 1 and parts[0].startswith("decode") and not (exp / parts[0]).is_dir():
            continue
        out.append(str(x))
    return out


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command line tool; returns the exit code."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train_config", required=True)
    p.add_argument("--model_file", required=True)
    p.add_argument("--tokenizer", help="sentencepiece model referenced by the config")
    p.add_argument("--ngram", help="token n-gram LM (stage 4) for CTC beam search")
    p.add_argument("--inference_config")
    p.add_argument("--segment_config", help="segmentation yaml of whole-recording decoding (the windows "
                                            "the results were measured on: segment_recordings' segment.yaml)")
    p.add_argument("--link_config", help="speaker linking yaml of whole-recording decoding")
    p.add_argument("--results", help="RESULTS.md to include")
    p.add_argument("--images", help="dir of PNGs to include")
    p.add_argument("--outpath", required=True)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (pack) %(levelname)s: %(message)s")

    from espnet_tagspeech.data.atomic import check_writable
    from espnet_tagspeech.data.errors import DataFormatError
    from espnet_tagspeech.segment.config import SegmentConfig

    files = {"model_file": args.model_file}
    if args.tokenizer:
        files["tokenizer_file"] = args.tokenizer
    if args.ngram:
        files["ngram_file"] = args.ngram
    yaml_files = {"train_config": args.train_config}
    if args.inference_config:
        yaml_files["inference_config"] = args.inference_config
    if args.segment_config:
        yaml_files["segment_config"] = args.segment_config
    if args.link_config:
        yaml_files["link_config"] = args.link_config
    option = [args.results] if args.results else []
    if args.images:
        option += packed_images(Path(args.images))
    for f in list(files.values()) + list(yaml_files.values()) + option:
        if not Path(f).is_file():
            logging.error("no such file: %s", f)
            return 1
    out = Path(args.outpath)
    try:
        for f in yaml_files.values():
            check_yaml(f)
        if args.segment_config:  # settings from_pretrained could not read are not packed
            SegmentConfig.from_yaml(args.segment_config)
        check_writable(out.parent)
    except (DataFormatError, ValueError) as e:
        logging.error("%s", e)
        return 1
    from espnet_tagspeech.decode.packed import write_packed

    try:
        write_packed(out, files, yaml_files, option)
    except ValueError as e:
        logging.error("%s", e)
        return 1
    logging.info("packed %s (%.1f MB)", out, out.stat().st_size / 1e6)
    return 0


if __name__ == "__main__":
    sys.exit(main())
