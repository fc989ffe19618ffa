"""Regenerate the sample data in this folder (the input of ``rights demo``).

    .venv/bin/python samples/make_samples.py --source /usr/share/openclipart/png

Source art: the Debian package ``openclipart-png`` (Open Clip Art Library, public domain / CC0).
Everything is deterministic (``random.Random(SEED)``), so running it again gives the same files.

What it writes:
- ``works/``: 30 registered artworks, shrunk to at most 480 px, palette PNG (small, alpha kept);
  ``works.csv`` (file, title, creator) for three fictional creators.
- ``listings/``: small JPEGs as a marketplace would show them:
  * pirated copies of every work, three each, with varied transforms: re-encode, crop,
    caption banner, phone screenshot, mirror, recolour (hue, greyscale, sepia), t-shirt mock-up,
    slight rotation, tiled watermark;
  * licensed uses (the seller holds a licence in ``licenses.csv``): found, but never a case;
  * unrelated art: other openclipart images that are not registered, some on the same mock-ups
    and banners, so the packaging alone must not trigger a match.
- ``feed.jsonl``: about 150 listings on three fictional platforms, plus a few broken lines
  (invalid JSON, missing image, a path escaping the folder, a missing file, a file that is not an
  image, a duplicate listing id).
- ``ground_truth.csv``: feed line, listing_id, expected work file (empty when none), kind, transform.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps

SEED = 20240601
HERE = Path(__file__).resolve().parent
WORK_SIDE = 480
LISTING_SIDE = 720  # product photos and phone screenshots as marketplaces serve them
PLATFORMS = ("artbazaar", "printhub", "teemarket")
CREATORS = ("mei.lin", "oskar.brandt", "amara.okafor")

# (source path under openclipart-png, title). Picked for detail and variety; no two share a drawing.
WORKS = [
    ("recreation/music/trumpet_pocket_colour_ganso.png", "Brass Pocket Trumpet"),
    ("recreation/music/harp2_ganson.png", "Concert Harp"),
    ("buildings/us_capitol_building_cli_01.png", "Capitol Dome"),
    ("education/school_in_fall_abiclipar_01.png", "Schoolhouse in Autumn"),
    ("recreation/music/fifties_jukebox_gerald_g_02.png", "Fifties Jukebox"),
    ("education/books/stack_of_books_01.png", "Reading Pile"),
    ("education/books/open_book_02.png", "Open Book Sketch"),
    ("recreation/sports/backpacker_ganson.png", "The Backpacker"),
    ("animals/mammals/big_cats/tigre04_architetto_franc_01.png", "Striding Tiger"),
    ("people/bach_ganson.png", "Portrait of a Composer"),
    ("recreation/sports/roller_blader_ganson.png", "Roller Blader"),
    ("food/meats_and_eggs/farmer_onelette.png", "Farmer's Sandwich"),
    ("plants/flowers_jonathan_dietric_01.png", "Yellow Daisies"),
    ("food/breads_and_carbs/pancakes_berries.png", "Berry Pancakes"),
    ("animals/mammals/bears/orso_architetto_francesc_02.png", "Grizzly"),
    ("animals/lucertola_maya_architett_01.png", "Maya Lizard"),
    ("transportation/beach_trip_ganson.png", "Beach Trip"),
    ("transportation/toyota_land_cruiser_ganson.png", "Green Cruiser"),
    ("food/beverages/macchina_caffe_architett_01.png", "Coffee Machine"),
    ("office/telephone/telefono_email_frolland_01.png", "Ringing Telephone"),
    ("plants/trees/fall_coloured_tree_geral_01.png", "Autumn Tree"),
    ("animals/mammals/stylized_wolf_head_geral_01.png", "Wolf Head"),
    ("transportation/boating/sailing_kids.png", "Sailing Kids"),
    ("recreation/religion/christianity/coat_of_arms_of_anglica_01.png", "Blue Shield"),
    ("animals/fish/paesaggio_marino_archite_01.png", "Sea Scene"),
    ("animals/birds/tacchino_architetto_fran_01.png", "Proud Turkey"),
    ("food/fruit/pesca_architetto_frances_01.png", "Half a Peach"),
    ("animals/mammals/horses/cavallo_architetto_franc_05.png", "Pony"),
    ("animals/fish/crawfish2_ganson.png", "Red Crawfish"),
    ("food/desserts/crazy_cookie_dave_pena_01.png", "Crazy Cookie"),
]
UNRELATED = [
    "transportation/vehicles/hummer_03.png",
    "animals/mammals/big_cats/tigre01_architetto_franc_01.png",
    "animals/mammals/big_cats/color_tiger_susan_park_01.png",
    "transportation/vehicles/ambulans_romus_01.png",
    "recreation/sports/hikinh_ganson.png",
    "office/telephone/slim_cell_phone_israel_c_01.png",
    "food/meats_and_eggs/egg_muffin.png",
    "animals/mammals/elefante02_architetto_fr_01.png",
    "food/beverages/teacup_ganson.png",
    "office/calculator.png",
    "food/beverages/teapot_ganson.png",
    "buildings/homes/home9.png",
    "food/desserts/cake_jarno_vasamaa_r.png",
    "recreation/dartboard_ruud_steltenpo_01.png",
    "buildings/homes/house_christoph_brill_01.png",
    "animals/mammals/cartoon_squirrel_mike_sm1.png",
    "buildings/furniture/mobile_architetto_france_01.png",
    "animals/cymru_flag_wales_michae_.png",
    "animals/fantasy/troll_daniel_steele_r.png",
    "food/fruit/grapes_01.png",
    "plants/flowers/tulips_ganson.png",
    "animals/bugs/farfalla_butterfly_fra1.png",
    "animals/dinosaurs/dinosauro_architetto_fra_02.png",
]
TRANSFORMS = (
    "reencode",
    "crop",
    "caption",
    "screenshot",
    "mirror",
    "recolour",
    "mockup",
    "rotate",
    "watermark",
)
# Work indexes (into WORKS) with a licensed listing: (licensee seller, platform or None = any).
LICENCES = {
    1: ("harpandco", "printhub"),
    5: ("bookworm-prints", None),
    9: ("classicstees", "teemarket"),
    13: ("brunchposters", "artbazaar"),
    20: ("seasonsgallery", None),
    26: ("fruitstand", "artbazaar"),
}
SELLERS = ("cheapprints99", "posterking", "tee-factory", "art4less", "wallstyle", "printmania", "shirtshack")
CAPTIONS = ("BEST PRICE!!", "Free shipping", "HD print - 30x40", "NEW design", "Limited edition", "Sale -50%")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--source", type=Path, default=_default_source(), help="openclipart-png folder")
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    make(args.source, args.out)
    return 0


def _default_source() -> Path:
    for candidate in (Path("/usr/share/openclipart/png"), Path("/work/cache/oc/usr/share/openclipart/png")):
        if candidate.is_dir():
            return candidate
    return Path("/usr/share/openclipart/png")


def make(source: Path, out: Path) -> None:
    rng = random.Random(SEED)
    works_dir, listings_dir = out / "works", out / "listings"
    for folder in (works_dir, listings_dir):
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.iterdir():
            old.unlink()
    work_rows, works = [], []
    for n, (rel, title) in enumerate(WORKS):
        art = _load(source / rel, WORK_SIDE)
        name = f"{n + 1:02d}_{Path(rel).stem[:24].rstrip('_')}.png"
        # Palette PNG keeps clip art crisp at a third of the size of full RGBA.
        art.quantize(colors=255, method=Image.Quantize.FASTOCTREE).save(works_dir / name, optimize=True)
        work_rows.append({"file": f"works/{name}", "title": title, "creator": CREATORS[n % len(CREATORS)]})
        works.append((name, art))
    _write_csv(out / "works.csv", ["file", "title", "creator"], work_rows)
    _write_csv(
        out / "licenses.csv",
        ["file", "licensee", "platform", "expires_at"],
        [
            {"file": f"works/{works[i][0]}", "licensee": who, "platform": where or "", "expires_at": ""}
            for i, (who, where) in LICENCES.items()
        ],
    )

    listings: list[dict[str, str]] = []
    truth: list[dict[str, str]] = []

    def add(img: Image.Image, expected: str, kind: str, transform: str, seller: str, platform: str) -> None:
        listing_id = f"{platform[:2]}-{len(listings) + 1001}"
        file = f"listings/{listing_id}.jpg"
        _save_jpeg(img, out / file, rng)
        title = (
            f"{rng.choice(('Poster', 'T-shirt', 'Canvas print', 'Sticker', 'Mug design'))} #{len(listings)}"
        )
        listings.append(
            {
                "listing_id": listing_id,
                "platform": platform,
                "image": file,
                "url": f"https://{platform}.example/item/{listing_id}",
                "title": title,
                "seller": seller,
                "price": f"{rng.randrange(5, 60)}.{rng.randrange(100):02d}",
            }
        )
        truth.append(
            {"listing_id": listing_id, "expected_work": expected, "kind": kind, "transform": transform}
        )

    # Pirated copies: every work three times, cycling through the transforms.
    step = 0
    for name, art in works:
        for _ in range(3):
            how = TRANSFORMS[step % len(TRANSFORMS)]
            step += 1
            add(
                _pirate(art, how, rng),
                f"works/{name}",
                "pirated",
                how,
                rng.choice(SELLERS),
                rng.choice(PLATFORMS),
            )
    # Licensed uses: the licensee sells it where the licence allows.
    for i, (who, where) in LICENCES.items():
        name, art = works[i]
        how = rng.choice(("reencode", "mockup", "caption"))
        add(_pirate(art, how, rng), f"works/{name}", "licensed", how, who, where or rng.choice(PLATFORMS))
    # Unrelated art, twice each: once plain, once in the same packaging pirates use.
    for rel in UNRELATED:
        art = _load(source / rel, WORK_SIDE)
        for how in ("reencode", rng.choice(("mockup", "caption", "screenshot", "watermark"))):
            add(_pirate(art, how, rng), "", "unrelated", how, rng.choice(SELLERS), rng.choice(PLATFORMS))

    order = list(range(len(listings)))
    rng.shuffle(order)  # pirated, licensed and clean listings interleaved as in a real feed
    lines = [json.dumps(listings[i], ensure_ascii=False) for i in order]
    truth = [truth[i] for i in order]
    (out / "listings" / "notes.jpg").write_bytes(b"this is a text file pretending to be an image\n")
    broken = [
        ('{"listing_id": "ph-bad-1", "platform": "printhub", "image": "listings/x.jpg"', "invalid-json"),
        (
            json.dumps({"listing_id": "ab-bad-2", "platform": "artbazaar", "title": "no image"}),
            "missing-image",
        ),
        (
            json.dumps({"listing_id": "tm-bad-3", "platform": "teemarket", "image": "../../etc/passwd"}),
            "escape",
        ),
        (
            json.dumps({"listing_id": "ab-bad-4", "platform": "artbazaar", "image": "listings/gone.jpg"}),
            "missing",
        ),
        (
            json.dumps({"listing_id": "ph-bad-5", "platform": "printhub", "image": "listings/notes.jpg"}),
            "not-image",
        ),
        (lines[3], "duplicate"),
    ]
    for k, (line, what) in enumerate(broken):
        at = 10 + k * 25
        lines.insert(at, line)
        ident = json.loads(line)["listing_id"] if what != "invalid-json" else "ph-bad-1"
        truth.insert(at, {"listing_id": ident, "expected_work": "", "kind": "broken", "transform": what})
    (out / "feed.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for line_no, row in enumerate(truth, start=1):
        row["line"] = str(line_no)  # a duplicated listing_id appears twice: the line tells them apart
    _write_csv(out / "ground_truth.csv", ["line", "listing_id", "expected_work", "kind", "transform"], truth)


def _load(path: Path, side: int) -> Image.Image:
    with Image.open(path) as img:
        img.draft("RGBA", (side, side))
        art = img.convert("RGBA")
    art.thumbnail((side, side), Image.Resampling.LANCZOS)
    return art


def _flat(art: Image.Image, colour: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    canvas = Image.new("RGB", art.size, colour)
    canvas.paste(art, mask=art.getchannel("A"))
    return canvas


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _pirate(art: Image.Image, how: str, rng: random.Random) -> Image.Image:
    img = _flat(art)
    w, h = img.size
    if how == "reencode":
        scale = rng.uniform(0.6, 0.9)
        return img.resize((int(w * scale), int(h * scale)), Image.Resampling.BILINEAR)
    if how == "crop":
        keep = rng.uniform(0.65, 0.8)
        cw, ch = int(w * keep), int(h * keep)
        x, y = rng.randrange(w - cw + 1), rng.randrange(h - ch + 1)
        return img.crop((x, y, x + cw, y + ch))
    if how == "caption":
        band = max(36, h // 6)
        canvas = Image.new("RGB", (w, h + band), rng.choice([(20, 20, 20), (200, 30, 40), (250, 210, 40)]))
        canvas.paste(img, (0, 0))
        ImageDraw.Draw(canvas).text(
            (10, h + band // 4), rng.choice(CAPTIONS), font=_font(band // 2), fill="white"
        )
        return canvas
    if how == "screenshot":
        sw, sh = 390, 780
        screen = Image.new("RGB", (sw, sh), (245, 245, 247))
        draw = ImageDraw.Draw(screen)
        draw.rectangle((0, 0, sw, 56), fill=(40, 90, 200))
        draw.text((16, 16), rng.choice(PLATFORMS), font=_font(22), fill="white")
        shown = img.copy()
        shown.thumbnail((sw - 30, sh // 2))
        screen.paste(shown, ((sw - shown.width) // 2, 80))
        y = 100 + shown.height
        draw.text((16, y), rng.choice(CAPTIONS), font=_font(24), fill=(20, 20, 20))
        for k in range(5):
            draw.rectangle(
                (16, y + 50 + k * 34, sw - 16 - rng.randrange(120), y + 66 + k * 34), fill=(200, 200, 205)
            )
        draw.rounded_rectangle((16, sh - 80, sw - 16, sh - 30), radius=12, fill=(255, 140, 0))
        return screen
    if how == "mirror":
        return ImageOps.mirror(img)
    if how == "recolour":
        mode = rng.choice(("hue", "grey", "sepia"))
        if mode == "grey":
            return ImageOps.grayscale(img).convert("RGB")
        if mode == "sepia":
            return ImageOps.colorize(ImageOps.grayscale(img), (40, 20, 0), (255, 240, 200))
        return _hue_shift(img, rng.uniform(0.15, 0.45))
    if how == "mockup":
        shirt = rng.choice([(30, 30, 35), (240, 240, 240), (60, 90, 160), (170, 40, 50)])
        canvas = Image.new("RGB", (600, 640), (228, 228, 224))
        draw = ImageDraw.Draw(canvas)
        draw.polygon(
            [
                (150, 60),
                (240, 40),
                (360, 40),
                (450, 60),
                (560, 170),
                (490, 240),
                (450, 200),
                (450, 610),
                (150, 610),
                (150, 200),
                (110, 240),
                (40, 170),
            ],
            fill=shirt,
        )
        draw.ellipse((250, 20, 350, 80), fill=(228, 228, 224))
        design = art.copy()
        design.thumbnail((250, 280))
        canvas.paste(design, (300 - design.width // 2, 150), mask=design.getchannel("A"))
        return canvas
    if how == "rotate":
        return img.rotate(rng.choice((-1, 1)) * rng.uniform(5, 12), expand=True, fillcolor=(255, 255, 255))
    if how == "watermark":
        layer = Image.new("RGBA", img.size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(layer)
        mark = rng.choice(("SAMPLE", "preview", "(c) shop"))
        for y in range(0, h, 70):
            for x in range(-40 + (y // 70) % 2 * 60, w, 150):
                draw.text((x, y), mark, font=_font(26), fill=(255, 255, 255, 110))
        return Image.alpha_composite(img.convert("RGBA"), layer).convert("RGB")
    raise ValueError(f"unknown transform {how!r}")


def _hue_shift(img: Image.Image, shift: float) -> Image.Image:
    hsv = img.convert("HSV")
    h, s, v = hsv.split()
    h = h.point(lambda value: int((value + shift * 255) % 256))
    shifted = Image.merge("HSV", (h, s, v)).convert("RGB")
    return ImageEnhance.Contrast(shifted).enhance(1.1)


def _save_jpeg(img: Image.Image, path: Path, rng: random.Random) -> None:
    img = img.convert("RGB")
    img.thumbnail((LISTING_SIDE, LISTING_SIDE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=rng.randrange(68, 86), optimize=True)
    path.write_bytes(buf.getvalue())


def _write_csv(path: Path, columns: list[str], rows: list[dict[str, str]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    raise SystemExit(main())
