"""Demo and test data that needs no download.

* :func:`digits_folder`: scikit-learn's bundled handwritten digits (1797 real 8x8 scans, 10 classes) written as an
  ImageNet-layout folder of RGB JPEGs, upscaled so the networks see at least 32x32.
* :func:`digits_mnist`: the same digits as MNIST idx files (``train-images-idx3-ubyte`` ...).
* :func:`synthetic_folder`, :func:`cifar10_binary` and :func:`cifar100_binary`: tiny generated sets in the ImageNet,
  CIFAR-10 and CIFAR-100 layouts.
"""
import struct
from pathlib import Path

import numpy as np
from PIL import Image


def digits_folder(root, size=32, val_fraction=0.2, seed=0, quality=95):
    """Write ``root/{train,val}/<digit>/*.jpg``; returns (train count, val count).  Idempotent."""
    root = Path(root)
    marker = root / ".complete"
    images, labels, val_mask = _digits_split(val_fraction, seed)
    counts = {"train": int((~val_mask).sum()), "val": int(val_mask.sum())}
    if marker.is_file() and marker.read_text() == f"{size}:{counts['train']}:{counts['val']}":
        return counts["train"], counts["val"]
    for i, (image, label) in enumerate(zip(images, labels)):
        split = "val" if val_mask[i] else "train"
        folder = root / split / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        picture = Image.fromarray(image, mode="L").resize((size, size), Image.BICUBIC).convert("RGB")
        picture.save(folder / f"digit_{i:04d}.jpg", quality=quality)
    marker.write_text(f"{size}:{counts['train']}:{counts['val']}")
    return counts["train"], counts["val"]


def _digits_split(val_fraction, seed):
    """(uint8 images 0-255, labels, val mask) of scikit-learn's digits, split per class."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images / 16.0 * 255.0).clip(0, 255).astype(np.uint8)
    labels = digits.target
    rng = np.random.default_rng(seed)
    val_mask = np.zeros(len(labels), dtype=bool)
    for label in range(10):  # stratified split
        members = np.flatnonzero(labels == label)
        chosen = rng.choice(members, size=int(round(len(members) * val_fraction)), replace=False)
        val_mask[chosen] = True
    return images, labels, val_mask


def digits_mnist(root, size=28, val_fraction=0.2, seed=0):
    """Write the digits as MNIST idx files in ``root`` (train = ``train-*``, val = ``t10k-*``), each image upscaled
    to ``size`` x ``size``; returns (train count, val count)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    images, labels, val_mask = _digits_split(val_fraction, seed)
    big = np.stack([np.asarray(Image.fromarray(image, mode="L").resize((size, size), Image.BICUBIC))
                    for image in images])
    for prefix, mask in (("train", ~val_mask), ("t10k", val_mask)):
        count = int(mask.sum())
        (root / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, count, size, size)
                                                           + big[mask].tobytes())
        (root / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, count)
                                                           + labels[mask].astype(np.uint8).tobytes())
    return int((~val_mask).sum()), int(val_mask.sum())


def cifar100_binary(root, train_records=200, test_records=50, seed=0):
    """CIFAR-100 binary layout (``cifar-100-binary/train.bin``, ``test.bin``: coarse label, fine label, 3072 pixels
    per record) with random records; every fine class appears in both files."""
    root = Path(root)
    folder = root / "cifar-100-binary"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name, records in (("train.bin", train_records), ("test.bin", test_records)):
        fine = np.arange(records) % 100
        rng.shuffle(fine)
        labels = np.stack([fine // 5, fine], axis=1).astype(np.uint8)
        pixels = rng.integers(0, 256, size=(records, 3072), dtype=np.uint8)
        (folder / name).write_bytes(np.concatenate([labels, pixels], axis=1).tobytes())
    return root


def synthetic_folder(root, classes=3, per_class=4, size=40, seed=0, splits=("train", "val"), val_per_class=None):
    """Tiny ImageNet-layout folder of random-ish JPEGs (class k has a distinct dominant colour)."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    for split in splits:
        count = per_class if split == "train" or val_per_class is None else val_per_class
        for label in range(classes):
            folder = root / split / f"class_{label:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                base = np.zeros((size, size, 3), dtype=np.float32)
                base[..., label % 3] = 160 + 40 * (label // 3)
                noise = rng.normal(0, 30, size=(size, size, 3))
                pixels = np.clip(base + noise, 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"img_{label}_{i:03d}.JPEG", quality=90)
    return root


def cifar10_binary(root, seed=0, train_batches=1, records=10000):
    """CIFAR-10 binary layout (``cifar-10-batches-bin``, ``cifar-10-verify-bin``) with random records.

    MindSpore's reader insists on the real file size (10000 records of 3073 bytes), so the files have it.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)

    def records_bytes():
        labels = rng.integers(0, 10, size=(records, 1), dtype=np.uint8)
        pixels = rng.integers(0, 256, size=(records, 3072), dtype=np.uint8)
        return np.concatenate([labels, pixels], axis=1).tobytes()

    train_dir = root / "cifar-10-batches-bin"
    verify_dir = root / "cifar-10-verify-bin"
    train_dir.mkdir(parents=True, exist_ok=True)
    verify_dir.mkdir(parents=True, exist_ok=True)
    for i in range(1, train_batches + 1):
        (train_dir / f"data_batch_{i}.bin").write_bytes(records_bytes())
    (verify_dir / "test_batch.bin").write_bytes(records_bytes())
    return root
