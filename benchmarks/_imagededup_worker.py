"""Times the PyPI package imagededup's PHash for bench_image_dedup.py, inside imagededup's own venv.

imagededup is not, and must not become, a lingshu dependency: it requires torch, torchvision and
matplotlib, and imports them as soon as `imagededup.methods` or `imagededup.utils` is imported, because
those packages' __init__ files import the CNN method, the CNN model zoo and the plotting helper. Its
hashing code needs none of them. So it is installed with `pip install --no-deps` into a separate venv
(plus the libraries its hashing path does import: numpy, scipy, pywavelets, pillow, tqdm, scikit-learn),
and this worker skips the two package __init__ files: it registers `imagededup.methods` and
`imagededup.utils` in sys.modules as empty packages whose __path__ is the installed folder, so that
`imagededup.methods.hashing` and everything it imports load from the installed files, unchanged. The
worker then checks that neither torch nor matplotlib got imported.

Prints one JSON object: the encode time for all images, and find_duplicates times for the hashes
repeated 1x and Kx (`--search-copies`), with the Hamming-0 duplicate groups of the 1x set.
"""

from __future__ import annotations

import sys

from _common import single_core, timed

single_core()  # before numpy/scipy are imported

import argparse  # noqa: E402
import json  # noqa: E402
import types  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402


def import_phash():
    import imagededup

    root = Path(imagededup.__file__).parent
    for name in ("methods", "utils"):
        package = types.ModuleType(f"imagededup.{name}")
        package.__path__ = [str(root / name)]
        sys.modules[package.__name__] = package
        setattr(imagededup, name, package)
    from imagededup.methods.hashing import PHash

    heavy = {"torch", "torchvision", "matplotlib"} & set(sys.modules)
    assert not heavy, f"imagededup imported {heavy}"
    return imagededup.__version__, PHash


def groups(duplicates: dict[str, list[str]]) -> list[list[str]]:
    return sorted({tuple(sorted({name, *others})) for name, others in duplicates.items() if others})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--search-copies", type=int, nargs="*", default=[],
                        help="time find_duplicates on the hashes repeated this many times")
    args = parser.parse_args()
    paths = sorted(p for p in args.images.iterdir() if p.is_file())
    version, PHash = import_phash()
    phasher = PHash(verbose=False)
    phasher.encode_image(image_file=str(paths[0]))  # warm-up
    seconds, hashes = timed(lambda: {p.name: phasher.encode_image(image_file=str(p)) for p in paths})
    result = {"version": version, "images": len(paths), "encode_s": seconds, "search": {}}
    for copies in args.search_copies:
        encodings = {f"{copy}/{name}": value for copy in range(copies) for name, value in hashes.items()}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "num_enc_workers has no effect since encodings are provided"
            # Hamming 0 as in lingshu (imagededup's default is 10; the search compares all pairs either way).
            # num_dist_workers=1: one pool worker, the fewest imagededup allows, on the same pinned core.
            seconds, duplicates = timed(lambda: phasher.find_duplicates(
                encoding_map=encodings, max_distance_threshold=0, num_dist_workers=1))
        result["search"][str(copies)] = {"images": len(encodings), "seconds": seconds}
        if copies == 1:
            result["groups"] = groups(duplicates)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
