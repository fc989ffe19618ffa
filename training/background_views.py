"""Write ``indexes/copy_embedding_background_views.npy``: the crop descriptors
(``copy_embedding.embed_work``) of the training pictures, computed as the engine computes a
registered work's (from its fingerprint's thumbnail). No PyTorch needed.

    python -m training.background_views [--corpus DIR] [--manifests GLOB]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from indexes import ImageError, fingerprint
from indexes.embedding_index import BACKGROUND_VIEWS
from training.pictures import BENCHMARK_MANIFESTS, CORPUS, training_pictures


def main(argv: list[str] | None = None) -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="normalised benchmark pictures")
    parser.add_argument("--manifests", default=BENCHMARK_MANIFESTS, help="benchmark manifests to leave out")
    args = parser.parse_args(argv)
    views = []
    for path in training_pictures(args.corpus, args.manifests):
        try:
            views.append(fingerprint(path.read_bytes(), role="reference").views)
        except ImageError as exc:
            print(f"skipped {path.name}: {exc}", flush=True)
    np.save(BACKGROUND_VIEWS, np.stack(views))
    print(f"wrote {BACKGROUND_VIEWS} with the crops of {len(views)} pictures", flush=True)


if __name__ == "__main__":
    main()
