"""Train a TagSpeech model with ESPnet's Trainer (``TagSpeechTask.main``).

Example::

    python -m espnet_tagspeech.bin.tagspeech_train --config conf/tuning/train_tagspeech_tiny.yaml \\
        --train_data_path_and_name_and_type dump/train/wav.scp,speech,sound ...
    python -m espnet_tagspeech.bin.tagspeech_train --print_config

Before ESPnet starts (and writes anything into ``--output_dir``), the options are
checked: a misspelled key of the config (ESPnet names unknown top-level keys; a
``*_conf`` key the part it configures does not take is named here) or a missing
data, shape, init or tokenizer file stops the run with the key or the file.
"""

import sys
from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point: all options are ESPnet's plus the task's (see ``--help``); returns the
    exit code (1 on bad input, with a message naming the key or the file)."""
    from espnet_tagspeech.data.errors import DataFormatError
    from espnet_tagspeech.tasks.tagspeech import TagSpeechTask, check_inputs

    args = TagSpeechTask.get_parser().parse_args(sys.argv[1:] if argv is None else argv)
    if not args.print_config:
        try:
            check_inputs(args)
        except DataFormatError as e:
            print(f"tagspeech_train: error: {e}", file=sys.stderr)
            return 1
    TagSpeechTask.main(args=args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
