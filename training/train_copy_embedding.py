"""Train the copy descriptor on CPU, then write what the engine ships (README in this folder).

    python -m training.train_copy_embedding train --minutes 45 --checkpoint stage1.pt
    python -m training.train_copy_embedding train --minutes 50 --init stage1.pt --checkpoint stage2.pt \\
        --batch 256 --lr 1e-3 --heavy-share 0.25 --look-alikes
    python -m training.train_copy_embedding export stage2.pt

Each step embeds a batch of pictures twice, clean (as registered) and as a copy-like view
(``copy_views``), and asks every copy to be nearest its own picture among the batch's clean ones
and vice versa (InfoNCE at temperature 0.05). ``--look-alikes`` fills half of each batch with
groups of pictures the network currently finds alike (refreshed every 150 steps), so that it
learns to tell apart the clip art of one set, which random batches rarely put side by side.
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from training import copy_views
from training.network import CopyNet, Exported, to_tensor
from training.pictures import BENCHMARK_MANIFESTS, CORPUS, background_pictures, training_pictures

INDEXES = Path(__file__).resolve().parent.parent / "indexes"
TEMPERATURE = 0.05
_REFRESH_STEPS = 150
_GROUP = 8


class _Batches(torch.utils.data.IterableDataset):
    """(clean views, copy views) of ``size`` pictures, half of them groups of look-alikes once a
    neighbour table (``neighbours`` file, rewritten by the trainer) exists."""

    def __init__(
        self, images: list[np.ndarray], size: int, seed: int, heavy: float, neighbours: Path | None,
        blocks: float,
    ):  # fmt: skip
        self.images, self.size, self.seed, self.heavy, self.neighbours = images, size, seed, heavy, neighbours
        self.blocks = blocks

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        rng = random.Random(self.seed)
        table, stamp = None, 0.0
        while True:
            fresh = self.neighbours is not None and self.neighbours.exists()
            if fresh and self.neighbours.stat().st_mtime != stamp:
                stamp, table = self.neighbours.stat().st_mtime, np.load(self.neighbours)
            picked: list[int] = []
            if table is not None:
                seen: set[int] = set()
                while len(picked) < self.size // 2:
                    anchor = rng.randrange(len(self.images))
                    for j in [anchor, *table[anchor][: _GROUP - 1].tolist()]:
                        if j not in seen:
                            seen.add(j)
                            picked.append(j)
                picked += [i for i in rng.sample(range(len(self.images)), self.size) if i not in seen]
                picked = picked[: self.size]
            else:
                picked = rng.sample(range(len(self.images)), self.size)
            clean = [copy_views.reference_view(self.images[i]) for i in picked]
            marked = [copy_views.copy_view(self.images[i], rng, self.heavy, self.blocks) for i in picked]
            blocks = torch.tensor([b for _, b in marked])
            yield to_tensor(clean), to_tensor([v for v, _ in marked]), blocks


def _train_mode(net: CopyNet, frozen_norm: bool) -> None:
    """Training mode; a network read back from ONNX keeps its batch norms as the fixed per-channel
    scale and shift they were folded into (their running statistics mean nothing there)."""
    net.train()
    if frozen_norm:
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.eval()


def _embed_all(net: CopyNet, images: list[np.ndarray], frozen_norm: bool = False) -> torch.Tensor:
    net.eval()
    with torch.no_grad():
        out = [
            net(to_tensor([copy_views.reference_view(im) for im in images[i : i + 256]]))
            for i in range(0, len(images), 256)
        ]
    _train_mode(net, frozen_norm)
    return torch.cat(out)


def from_onnx(path: Path) -> CopyNet:
    """The shipped network as a trainable one. The export folded each batch norm into its
    convolution, so the norms become identities (unit scale, zero mean, the conv's bias as shift)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    weights = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in model.graph.initializer}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    net = CopyNet()
    blocks = list(net.features)
    with torch.no_grad():
        for block, node in zip(blocks, convs, strict=True):
            conv, norm = block[0], block[1]
            conv.weight.copy_(weights[node.input[1]])
            norm.weight.fill_(1.0)
            norm.bias.copy_(weights[node.input[2]])
            norm.running_mean.zero_()
            norm.running_var.fill_(1.0 - norm.eps)
        net.p.copy_(weights["net.p"])
        net.fc.weight.copy_(weights["net.fc.weight"])
        net.fc.bias.copy_(weights["net.fc.bias"])
    return net


def train(args: argparse.Namespace) -> None:
    torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    paths = training_pictures(args.corpus, args.manifests)
    print(f"{len(paths)} training pictures", flush=True)
    images = [copy_views.load(str(p)) for p in paths]
    frozen_norm = args.init_onnx is not None
    net = from_onnx(args.init_onnx) if frozen_norm else CopyNet()
    if args.init:
        net.load_state_dict(torch.load(args.init))
    # ``--anchor`` keeps clean pictures, and copies without the edits being learnt, where the
    # starting network put them, so that the engine's thresholds, chosen for it, move least.
    teacher = copy.deepcopy(net).eval() if args.anchor > 0 else None
    _train_mode(net, frozen_norm)
    table = Path(args.checkpoint).with_suffix(".neighbours.npy") if args.look_alikes else None
    if table is not None:
        table.unlink(missing_ok=True)
    batches = _Batches(images, args.batch, args.seed, args.heavy_share, table, args.blocks_share)
    loader = torch.utils.data.DataLoader(batches, batch_size=None, num_workers=1, prefetch_factor=4)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    start, total = time.time(), args.minutes * 60
    step = 0
    for clean, copies, blocks in loader:
        elapsed = time.time() - start
        if elapsed > total:
            break
        # Linear warm-up over 50 steps, then cosine decay over the time budget.
        lr = args.lr * min(1.0, (step + 1) / 50) * 0.5 * (1 + math.cos(math.pi * min(1.0, elapsed / total)))
        for group in opt.param_groups:
            group["lr"] = lr
        e = net(torch.cat([clean, copies]))
        logits = e[len(clean) :] @ e[: len(clean)].T / TEMPERATURE
        target = torch.arange(len(clean))
        loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
        if teacher is not None:
            kept = torch.cat([torch.ones(len(clean), dtype=torch.bool), ~blocks])
            with torch.no_grad():
                before = teacher(torch.cat([clean, copies])[kept])
            loss = loss + args.anchor * (1 - (e[kept] * before).sum(1)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 20 == 0:
            accuracy = (logits.argmax(1) == target).float().mean().item()
            line = f"step {step} {elapsed:.0f}s lr {lr:.5f} loss {loss.item():.3f} top-1 {accuracy:.3f}"
            print(line, flush=True)
        if step % 200 == 0:
            torch.save(net.state_dict(), args.checkpoint)
        if table is not None and step % _REFRESH_STEPS == 0:
            e_all = _embed_all(net, images, frozen_norm)
            sims = e_all @ e_all.T
            sims.fill_diagonal_(-2)
            tmp = table.with_suffix(".tmp.npy")
            np.save(tmp, sims.topk(2 * _GROUP, dim=1).indices.numpy())
            os.replace(tmp, table)
        step += 1
    torch.save(net.state_dict(), args.checkpoint)
    print(f"saved {args.checkpoint} after {step} steps", flush=True)


def export(args: argparse.Namespace) -> None:
    """The ONNX network and the background descriptors (``pictures.background_pictures``), into
    ``indexes/``."""
    net = CopyNet()
    net.load_state_dict(torch.load(args.checkpoint))
    net.eval()
    sample = torch.zeros(1, 3, copy_views.SIDE, copy_views.SIDE)
    args.out.mkdir(parents=True, exist_ok=True)
    onnx = args.out / "copy_embedding.onnx"
    torch.onnx.export(Exported(net), (sample,), str(onnx), input_names=["image"], output_names=["descriptor"],
                      dynamo=False, opset_version=13)  # fmt: skip
    # The same pictures as the shipped background, so that a new network changes only the network.
    images = [copy_views.load(str(p)) for p in background_pictures(args.corpus)]
    background = np.clip(np.rint(_embed_all(net, images).numpy() * 127), -127, 127).astype(np.int8)
    np.save(args.out / "copy_embedding_background.npy", background)
    print(f"wrote {onnx} and {len(background)} background descriptors", flush=True)


def main(argv: list[str] | None = None) -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="normalised benchmark pictures")
    parser.add_argument("--manifests", default=BENCHMARK_MANIFESTS, help="benchmark manifests to leave out")
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train")
    t.add_argument("--minutes", type=float, required=True)
    t.add_argument("--checkpoint", required=True)
    t.add_argument("--init", help="checkpoint to start from")
    t.add_argument("--init-onnx", type=Path, help="start from an exported network (a fine-tune)")
    t.add_argument("--anchor", type=float, default=0.0, help="weight keeping clean pictures where they were")
    t.add_argument("--blocks-share", type=float, default=0.0, help="views given stripes or blocks")
    t.add_argument("--batch", type=int, default=192)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--heavy-share", type=float, default=0.0)
    t.add_argument("--look-alikes", action="store_true")
    t.add_argument("--seed", type=int, default=0)
    e = sub.add_parser("export")
    e.add_argument("checkpoint")
    e.add_argument("--out", type=Path, default=INDEXES)
    args = parser.parse_args(argv)
    {"train": train, "export": export}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
