"""Train a TagSpeech model with ESPnet's Trainer (``TagSpeechTask.main``).

Example::

    python -m espnet_tagspeech.bin.tagspeech_train --config conf/tuning/train_tagspeech_tiny.yaml \\
        --train_data_path_and_name_and_type dump/train/wav.scp,speech,sound ...
    python -m espnet_tagspeech.bin.tagspeech_train --print_config
"""

import sys
from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> None:
    """Entry point: all options are ESPnet's plus the task's (see ``--help``)."""
    from espnet_tagspeech.tasks.tagspeech import TagSpeechTask

    TagSpeechTask.main(cmd=sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
