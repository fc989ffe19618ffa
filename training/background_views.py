"""Write ``indexes/copy_embedding_background_views.npy``: the crop descriptors
(``copy_embedding.embed_work``) of the background pictures (``pictures.background_pictures``),
computed as the engine computes a registered work's (from its fingerprint's thumbnail). No PyTorch
needed.

    python -m training.background_views [--corpus DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from indexes import fingerprint
from indexes.embedding_index import BACKGROUND_VIEWS
from training.pictures import CORPUS, background_pictures


def main(argv: list[str] | None = None) -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="normalised benchmark pictures")
    args = parser.parse_args(argv)
    # Row by row as copy_embedding_background.npy: a failing picture stops the run, not shift rows.
    pictures = background_pictures(args.corpus)
    views = [fingerprint(path.read_bytes(), role="reference").views for path in pictures]
    np.save(BACKGROUND_VIEWS, np.stack(views))
    print(f"wrote {BACKGROUND_VIEWS} with the crops of {len(views)} pictures", flush=True)


if __name__ == "__main__":
    main()
