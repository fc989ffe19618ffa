"""A small world for scan tests: a registry of synthetic artworks and a feed of listings that copy them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rights.config import Settings
from rights.registry import Registry
from tests.artwork import artwork, encode, pirate

WORK_SEEDS = (11, 22, 33, 44, 55)
UNRELATED_SEEDS = (901, 902, 903, 904)
COPIES = ("jpeg", "crop", "mirror", "mockup")


@dataclass
class World:
    data: Path
    feed_dir: Path
    settings: Settings
    works: dict[int, str] = field(default_factory=dict)  # seed -> work id
    expected: dict[str, str | None] = field(default_factory=dict)  # listing id -> work id (None: clean)


def build_world(root: Path, *, fetch_allow: list[str] | None = None) -> World:
    settings = Settings(data=root / "data", fetch_allow=fetch_allow or [], fetch_timeout_s=5)
    world = World(root / "data", root / "feed", settings)
    world.feed_dir.mkdir(parents=True)
    with Registry.open(settings) as registry:
        for n, seed in enumerate(WORK_SEEDS):
            body = registry.register(("ana", "ben")[n % 2], encode(artwork(seed)), title=f"Artwork {seed}")
            world.works[seed] = body["work_id"]
        # The seller "goodprints" may sell work 22 on "bazaar": that listing is licensed, not a case.
        registry.add_license(world.works[22], "goodprints", "bazaar", None)
    return world


def listings(world: World, *, repeat: int = 1) -> list[dict[str, str]]:
    """Copies of every work, unrelated art and a licensed use; images written into the feed folder."""
    lines: list[dict[str, str]] = []
    for r in range(repeat):
        for seed in WORK_SEEDS:
            for how in COPIES:
                name = f"{seed}-{how}.png"
                if not (world.feed_dir / name).exists():
                    (world.feed_dir / name).write_bytes(encode(pirate(artwork(seed), how)))
                ident = f"{seed}-{how}-{r}"
                world.expected[ident] = world.works[seed]
                lines.append(
                    {
                        "listing_id": ident,
                        "platform": "bazaar",
                        "image": name,
                        "seller": "copycat",
                        "title": f"Poster {seed} {how}",
                        "url": f"https://bazaar.example/{ident}",
                    }
                )
        for seed in UNRELATED_SEEDS:
            name = f"u{seed}.png"
            if not (world.feed_dir / name).exists():
                (world.feed_dir / name).write_bytes(encode(artwork(seed)))
            ident = f"u{seed}-{r}"
            world.expected[ident] = None
            lines.append({"listing_id": ident, "platform": "kiosk", "image": name, "colour": "blue"})
        ident = f"licensed-{r}"
        world.expected[ident] = world.works[22]
        lines.append(
            {"listing_id": ident, "platform": "bazaar", "image": "22-jpeg.png", "seller": "goodprints"}
        )
    return lines


def write_feed(path: Path, lines: list[dict[str, str]], extra: Sequence[str] = ()) -> Path:
    text = [json.dumps(line) for line in lines] + list(extra)
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return path


def read_findings(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
