"""Writers of small data sets in the exact on-disk formats that torchvision reads."""

import hashlib
import pickle
from pathlib import Path

import numpy as np
from PIL import Image


def blocks(rng: np.random.Generator, height: int, width: int, block: int) -> np.ndarray:
    """An RGB image of black and white squares: its extremes survive resizing (noise would average out)."""
    cells = rng.choice(np.array([0, 255], dtype=np.uint8), (height // block + 1, width // block + 1, 3))
    return np.kron(cells, np.ones((block, block, 1), dtype=np.uint8))[:height, :width]


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def write_cifar10(root: Path, n_per_batch: int = 16, n_test: int = 24, seed: int = 0) -> dict[str, str]:
    """cifar-10-batches-py/ with data_batch_1..5, test_batch and batches.meta; returns their md5 sums."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        n = n_test if name == "test_batch" else n_per_batch
        entry = {
            "batch_label": f"{name} of 6",
            "labels": rng.integers(0, 10, n).tolist(),
            "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),  # each row: 1024 R, 1024 G, 1024 B
            "filenames": [f"img_{i}.png" for i in range(n)],
        }
        (folder / name).write_bytes(pickle.dumps(entry, protocol=2))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"c{i}" for i in range(10)]}, protocol=2))
    return {name: md5(folder / name) for name in names}


def write_celeba(root: Path, n: int = 16, seed: int = 0) -> str:
    """celeba/img_align_celeba/*.jpg (178 x 218, as the aligned set) and list_eval_partition.txt; returns its md5."""
    rng = np.random.default_rng(seed)
    folder = root / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(1, n + 1):
        name = f"{i:06d}.jpg"
        Image.fromarray(blocks(rng, 218, 178, 30)).save(folder / "img_align_celeba" / name)
        lines.append(f"{name} {0 if i <= n - 4 else (1 if i <= n - 2 else 2)}")  # n-4 train, 2 valid, 2 test
    (folder / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")
    return md5(folder / "list_eval_partition.txt")


def write_image_folder(root: Path, n_per_class: int = 10, size: tuple[int, int] = (40, 30), corrupt: int = 0) -> list[Path]:
    """root/{cats,dogs}/*.png, plus ``corrupt`` files with a .png name and garbage inside; returns the corrupt ones."""
    rng = np.random.default_rng(0)
    for cls in ("cats", "dogs"):
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            Image.fromarray(blocks(rng, size[1], size[0], 10)).save(root / cls / f"{i}.png")
    bad = [root / "dogs" / f"broken_{i}.png" for i in range(corrupt)]
    for path in bad:
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 8)
    return bad
