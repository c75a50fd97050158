"""Render a model card for a packed model and upload both to the Hugging Face hub.

Usage::

    python -m espnet_tagspeech.bin.upload_model --packed exp/x/x_packed.zip \\
        --exp_dir exp/x [--hf_repo user/name] [--recipe mini_meeting]

Always writes ``<exp_dir>/hf_upload/`` (the unpacked model and ``README.md``,
the model card).  Pushes it only when ``--hf_repo`` is given and hub
credentials exist (``HF_TOKEN`` or a saved login); otherwise it prints what it
would push and exits 0.  A zip that is truncated, corrupted or no packed model
(no ``meta.yaml``) is refused by name before anything is written.
"""

import argparse
import logging
import os
import shutil
import sys
import zipfile
from pathlib import Path
from typing import List, Optional

from espnet_tagspeech.data.atomic import atomic_write

logger = logging.getLogger("upload_model")


def render_card(recipe: str, repo: str, results: str, meta: str) -> str:
    """The model card text (YAML front matter + usage + results)."""
    name = repo or "<user>/<model>"
    return f"""---
tags:
- espnet
- audio
- speaker-diarization
- automatic-speech-recognition
- tagspeech
library_name: espnet
license: cc-by-4.0
---

# TagSpeech model: {recipe}

End-to-end "who spoke what and when" (TagSpeech: WavLM semantic stream + ECAPA-TDNN speaker
stream, time anchors, frozen decoder-only LLM), trained with the `{recipe}` recipe of
espnet-tagspeech.

## Use

```python
from espnet_tagspeech.decode import Speech2Tags
s2t = Speech2Tags.from_pretrained("{name}")  # or a local path to the packed zip
result = s2t(waveform_16k)                    # parsed turns, raw text, warnings
```

## Results

{results.strip() or "(no RESULTS.md was packed)"}

## Packing metadata

```yaml
{meta.strip()}
```
"""


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command line tool; returns the exit code."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--packed", required=True)
    p.add_argument("--exp_dir", required=True)
    p.add_argument("--hf_repo", default="")
    p.add_argument("--recipe", default="unknown")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (%(name)s) %(levelname)s: %(message)s")

    from espnet_tagspeech.data.atomic import check_writable, replace_dir, temp_dir_beside
    from espnet_tagspeech.data.errors import DataFormatError
    from espnet_tagspeech.decode.packed import check_packed

    packed = Path(args.packed)
    if not packed.is_file():
        logger.error("no such file: %s (run the pack stage first)", packed)
        return 1
    out = Path(args.exp_dir) / "hf_upload"
    try:
        check_packed(packed)
        check_writable(out)
    except DataFormatError as e:
        logger.error("%s", e)
        return 1
    # hf_upload/ is assembled beside its place and renamed: a failure leaves the old one
    tmp = temp_dir_beside(out)
    try:
        with zipfile.ZipFile(packed) as z:
            z.extractall(tmp)
        results = next((f.read_text(encoding="utf-8") for f in tmp.rglob("RESULTS.md")), "")
        meta = (tmp / "meta.yaml").read_text(encoding="utf-8")
        with atomic_write(tmp / "README.md") as f:
            f.write(render_card(args.recipe, args.hf_repo, results, meta))
        shutil.copyfile(packed, tmp / packed.name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    replace_dir(tmp, out)

    files = sorted(str(f.relative_to(out)) for f in out.rglob("*") if f.is_file())
    if not args.hf_repo:
        logger.info("no --hf_repo: would push %d files from %s:\n  %s", len(files), out, "\n  ".join(files))
        return 0
    from huggingface_hub import HfApi
    from huggingface_hub.utils import get_token

    if not (os.environ.get("HF_TOKEN") or get_token()):
        logger.info("no hub credentials (HF_TOKEN or `hf auth login`): would push %d files of %s to %s",
                    len(files), out, args.hf_repo)
        return 0
    api = HfApi()
    api.create_repo(args.hf_repo, exist_ok=True)
    api.upload_folder(folder_path=str(out), repo_id=args.hf_repo, commit_message="Upload TagSpeech model")
    logger.info("pushed %s to %s", out, args.hf_repo)
    return 0


if __name__ == "__main__":
    sys.exit(main())
