"""lenbench: a workbench for token-efficient reasoning RL.

Nothing is ever fetched from a hub: importing lenbench (which every entry point does before
transformers, datasets or huggingface_hub) sets HF_HUB_OFFLINE=1 unless the caller set it.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
