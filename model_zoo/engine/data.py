"""Data sources and pipelines on ``mindspore.dataset``.

Layouts:
  * ImageNet: ``root/train/<class>/*.JPEG`` and ``root/val/<class>/*.JPEG`` (class index = sorted folder order),
    or a class-folder root given directly;
  * flat folder + label file (``dataset=folder``): ``name label`` / ``name,label`` / ``name:label`` lines or a JSON
    ``{name: label}``;
  * CIFAR-10 binary batches (``cifar-10-batches-bin`` / ``cifar-10-verify-bin`` or the bin folder itself);
  * CIFAR-100 binary (``cifar-100-binary/train.bin`` / ``test.bin``, fine labels) and MNIST idx files
    (``train-images-idx3-ubyte`` ... ``t10k-labels-idx1-ubyte``), the other data sets of the paper recipe.

Image files are indexed in Python (sorted, hidden and non-image files left out, see :mod:`model_zoo.engine.verify`)
and fed as raw bytes through ``GeneratorDataset``; decoding and augmentation run in MindSpore's map workers
(the training crop-decode in MindSpore's C++; the eval decode with Pillow, see :func:`decode_rgb`).
Training shards with MindSpore's sampler (equal steps per rank); evaluation gives each rank the slice
``samples[rank::size]`` so that every image is counted exactly once whatever the number of ranks.
"""
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model_zoo.engine.errors import DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
CIFAR_RECORD_BYTES = 3073
CIFAR_RECORDS_PER_FILE = 10000
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CIFAR100_RECORD_BYTES = 3074  # coarse label, fine label, 3072 pixels
MNIST_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
               "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
# data sets whose class count is part of the format: name -> (classes, native image side, mean, std)
FIXED_DATASETS = {"cifar10": (10, 32, (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
                  "cifar100": (100, 32, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
                  "mnist": (10, 28, (0.1307,) * 3, (0.3081,) * 3)}


@dataclass
class SampleIndex:
    """The images of one split: parallel lists of file paths and integer labels, plus class names."""

    paths: list
    labels: list
    classes: list
    root: str

    def __len__(self):
        return len(self.paths)

    def subset(self, start, step):
        return SampleIndex(self.paths[start::step], self.labels[start::step], self.classes, self.root)


def _is_image(name):
    return not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)


def scan_class_folders(root):
    """Index an ImageNet-style folder: one sub-folder per class, class index = sorted folder order."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data folder {root} does not exist; pass the folder with --data_dir")
    classes = sorted(entry.name for entry in os.scandir(root) if entry.is_dir() and not entry.name.startswith("."))
    if not classes:
        raise DataError(f"data folder {root} has no class folders; expected {root}/<class>/<image> "
                        f"(or use dataset=folder with a label_file)")
    paths, labels, empty = [], [], []
    for index, name in enumerate(classes):
        files = sorted(f.name for f in os.scandir(root / name) if f.is_file() and _is_image(f.name))
        if not files:
            empty.append(name)
        paths.extend(str(root / name / f) for f in files)
        labels.extend([index] * len(files))
    if empty:
        raise DataError(f"class folder(s) with no images in {root}: {', '.join(empty[:5])}"
                        f"{' ...' if len(empty) > 5 else ''}; remove them or add images")
    return SampleIndex(paths, labels, classes, str(root))


def read_label_file(path):
    """Parse a label file into {file name: int label}."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"label file {path} not found; pass it with --label_file")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".json":
            return {str(k): int(v) for k, v in json.loads(text).items()}
        mapping = {}
        for number, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            for sep in (":", ",", None):
                parts = line.rsplit(sep, 1) if sep else line.split()
                if len(parts) == 2:
                    break
            name, label = parts[0].strip(), parts[1].strip()
            mapping[name] = int(label)
        return mapping
    except (ValueError, IndexError, UnboundLocalError, json.JSONDecodeError, AttributeError):
        raise DataError(f"label file {path} line {locals().get('number', '?')} is not 'name label'; "
                        f"fix the file") from None


def scan_flat_folder(root, label_file):
    """Index a flat image folder whose labels come from ``label_file``."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data folder {root} does not exist; pass the folder with --data_dir")
    mapping = read_label_file(label_file)
    by_stem = {Path(name).stem: label for name, label in mapping.items()}
    paths, labels, unlabeled = [], [], []
    for name in sorted(f.name for f in os.scandir(root) if f.is_file() and _is_image(f.name)):
        label = mapping.get(name, by_stem.get(Path(name).stem))
        if label is None:
            unlabeled.append(name)
            continue
        paths.append(str(root / name))
        labels.append(label)
    if unlabeled:
        raise DataError(f"{len(unlabeled)} image(s) in {root} have no label in {label_file} "
                        f"(first: {unlabeled[0]}); add them to the label file")
    if not paths:
        raise DataError(f"no images in {root}; expected .jpg/.jpeg/.png/.bmp files")
    num_classes = max(labels) + 1
    return SampleIndex(paths, labels, [str(i) for i in range(num_classes)], str(root))


def split_dir(data_dir, split, candidates=None):
    """The folder of a split: ``data_dir/<candidate>`` when it exists, else ``data_dir`` itself."""
    data_dir = Path(data_dir)
    names = candidates or ({"train": ("train",), "eval": ("val", "validation", "validation_preprocess", "test")}[split])
    for name in names:
        if (data_dir / name).is_dir():
            return data_dir / name
    return data_dir


class _BytesSource:
    """Random-access source for GeneratorDataset: (raw file bytes, label)."""

    def __init__(self, index):
        self.paths = index.paths
        self.labels = np.asarray(index.labels, dtype=np.int32)

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, item):
        with open(self.paths[item], "rb") as handle:
            data = np.frombuffer(handle.read(), dtype=np.uint8)
        return data, self.labels[item]


def workers(requested):
    """Map workers: the requested number, capped at the cores this process may use (MindSpore refuses more);
    0 = all of them."""
    from model_zoo.engine.cpu_env import usable_cores

    cores = usable_cores()
    return min(int(requested), cores) if requested and int(requested) > 0 else cores


def image_pipeline(index, operations, batch_size, training, rank=0, group_size=1, num_workers=0,
                   drop_remainder=None, batch_flag="--batch_size"):
    """Batches of (image, label) from an indexed image set, decoded and transformed by ``operations``
    (``batch_flag``: how the user sets the batch size, named when it is larger than the data)."""
    import mindspore.dataset as ds
    import mindspore.dataset.transforms as T
    import mindspore as ms

    if len(index) == 0:
        raise DataError(f"no images to read in {index.root}")
    if not training and group_size > 1:
        index = index.subset(rank, group_size)
    shard = dict(num_shards=group_size, shard_id=rank) if training and group_size > 1 else {}
    dataset = ds.GeneratorDataset(_BytesSource(index), column_names=["image", "label"], shuffle=training,
                                  num_parallel_workers=1, **shard)
    dataset = dataset.map(operations=operations, input_columns="image", num_parallel_workers=workers(num_workers))
    dataset = dataset.map(operations=T.TypeCast(ms.int32), input_columns="label")
    batched = _batch(dataset, batch_size, training, drop_remainder, len(index), group_size, batch_flag)
    batched.zoo_classes = list(index.classes)  # class names travel with the checkpoint (predict.py shows them)
    return batched


def cifar10_dirs(data_dir, training):
    """(folder, usage) of the CIFAR-10 binary batches for training or evaluation."""
    data_dir = Path(data_dir)
    sub = "cifar-10-batches-bin" if training else "cifar-10-verify-bin"
    folder = data_dir / sub if (data_dir / sub).is_dir() else data_dir
    if not training and not (folder / "test_batch.bin").is_file() and (data_dir / "cifar-10-batches-bin").is_dir():
        folder = data_dir / "cifar-10-batches-bin"
    usage = "train" if training else "test"
    wanted = ["data_batch_1.bin"] if training else ["test_batch.bin"]
    if not folder.is_dir():
        raise DataError(f"CIFAR-10 folder {folder} does not exist; pass the folder holding the .bin batches")
    if not all((folder / name).is_file() for name in wanted):
        raise DataError(f"{folder} has no {wanted[0]}; expected the CIFAR-10 binary batches "
                        f"(data_batch_1..5.bin, test_batch.bin)")
    return folder, usage


def cifar10_count(folder, usage):
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] if usage == "train" else ["test_batch.bin"]
    total = 0
    for name in names:
        path = Path(folder) / name
        if path.is_file():
            size = path.stat().st_size
            if size != CIFAR_RECORDS_PER_FILE * CIFAR_RECORD_BYTES:
                raise DataError(f"{path} is truncated or not a CIFAR-10 binary batch ({size} bytes, expected "
                                f"{CIFAR_RECORDS_PER_FILE * CIFAR_RECORD_BYTES}); re-copy it")
            total += CIFAR_RECORDS_PER_FILE
    return total


def cifar10_pipeline(data_dir, operations, batch_size, training, rank=0, group_size=1, num_workers=0,
                     drop_remainder=None, batch_flag="--batch_size"):
    """Batches of (image, label) from CIFAR-10 binary files."""
    import mindspore.dataset as ds

    folder, usage = cifar10_dirs(data_dir, training)
    return _reader_pipeline(ds.Cifar10Dataset, folder, usage, cifar10_count(folder, usage), operations, batch_size,
                            training, rank, group_size, num_workers, drop_remainder, batch_flag)


def _reader_pipeline(reader, folder, usage, total, operations, batch_size, training, rank, group_size, num_workers,
                     drop_remainder, batch_flag="--batch_size"):
    """Batches from one of MindSpore's data-set readers (Cifar10Dataset, MnistDataset): training shards with the
    reader, evaluation reads images rank, rank + size, ... (each counted once)."""
    import mindspore.dataset as ds

    if training:
        dataset = reader(str(folder), usage=usage, shuffle=True,
                         **(dict(num_shards=group_size, shard_id=rank) if group_size > 1 else {}))
    else:
        sampler = ds.SequentialSampler() if group_size == 1 else ds.SubsetSampler(list(range(rank, total, group_size)))
        dataset = reader(str(folder), usage=usage, sampler=sampler)
    return _map_and_batch(dataset, operations, batch_size, training, drop_remainder, total, group_size, num_workers,
                          batch_flag)


def _map_and_batch(dataset, operations, batch_size, training, drop_remainder, total, group_size, num_workers,
                   batch_flag="--batch_size"):
    import mindspore.dataset.transforms as T
    import mindspore as ms

    dataset = dataset.map(operations=operations, input_columns="image", num_parallel_workers=workers(num_workers))
    dataset = dataset.map(operations=T.TypeCast(ms.int32), input_columns="label")
    return _batch(dataset, batch_size, training, drop_remainder, total, group_size, batch_flag)


def mnist_dirs(data_dir, training):
    """(folder, usage) of the MNIST idx files (``data_dir`` or its ``MNIST/raw`` / ``mnist`` sub-folder)."""
    data_dir = Path(data_dir)
    usage = "train" if training else "test"
    for folder in (data_dir, data_dir / "MNIST" / "raw", data_dir / "mnist"):
        if all((folder / name).is_file() for name in MNIST_FILES[usage]):
            return folder, usage
    raise DataError(f"{data_dir} has no {MNIST_FILES[usage][0]} / {MNIST_FILES[usage][1]}; expected the MNIST idx "
                    f"files (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
                    f"t10k-labels-idx1-ubyte)")


def mnist_labels(data_dir, training):
    folder, usage = mnist_dirs(data_dir, training)
    raw = (folder / MNIST_FILES[usage][1]).read_bytes()
    if len(raw) < 8 or int.from_bytes(raw[:4], "big") != 2049:
        raise DataError(f"{folder / MNIST_FILES[usage][1]} is not an MNIST idx label file (magic 2049); re-copy it")
    return np.frombuffer(raw, dtype=np.uint8, offset=8)


def mnist_pipeline(data_dir, operations, batch_size, training, rank=0, group_size=1, num_workers=0,
                   drop_remainder=None, batch_flag="--batch_size"):
    """Batches of (image, label) from the MNIST idx files (``mindspore.dataset.MnistDataset``)."""
    import mindspore.dataset as ds

    folder, usage = mnist_dirs(data_dir, training)
    return _reader_pipeline(ds.MnistDataset, folder, usage, len(mnist_labels(data_dir, training)), operations,
                            batch_size, training, rank, group_size, num_workers, drop_remainder, batch_flag)


def cifar100_file(data_dir, training):
    """The CIFAR-100 binary file of a split: ``train.bin`` / ``test.bin`` in ``data_dir`` or its
    ``cifar-100-binary`` folder."""
    data_dir = Path(data_dir)
    name = "train.bin" if training else "test.bin"
    for folder in (data_dir / "cifar-100-binary", data_dir):
        if (folder / name).is_file():
            path = folder / name
            size = path.stat().st_size
            if size == 0 or size % CIFAR100_RECORD_BYTES:
                raise DataError(f"{path} ({size} bytes) is not a whole number of CIFAR-100 records "
                                f"({CIFAR100_RECORD_BYTES} bytes each); re-copy it")
            return path
    raise DataError(f"{data_dir} has no {name}; expected the CIFAR-100 binary version (cifar-100-binary/train.bin, "
                    f"test.bin)")


def cifar100_records(data_dir, training):
    """(fine labels, HWC uint8 images) of a CIFAR-100 binary file, memory-mapped."""
    records = np.memmap(cifar100_file(data_dir, training), dtype=np.uint8, mode="r").reshape(-1, CIFAR100_RECORD_BYTES)
    return records[:, 1], records[:, 2:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


class _RecordSource:
    """Random-access (image, label) source over in-memory arrays (CIFAR-100 records)."""

    def __init__(self, images, labels):
        self.images, self.labels = images, np.asarray(labels, dtype=np.int32)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, item):
        return np.ascontiguousarray(self.images[item]), self.labels[item]


def cifar100_pipeline(data_dir, operations, batch_size, training, rank=0, group_size=1, num_workers=0,
                      drop_remainder=None, batch_flag="--batch_size"):
    """Batches of (image, fine label) from the CIFAR-100 binary version.

    ``mindspore.dataset.Cifar100Dataset`` accepts only the full files (50000 / 10000 records); this reads any number
    of records (a subset, or the small files the tests generate) with the same record layout."""
    import mindspore.dataset as ds

    labels, images = cifar100_records(data_dir, training)
    source = _RecordSource(images, labels)
    if not training and group_size > 1:
        source = _RecordSource(images[rank::group_size], labels[rank::group_size])
    shard = dict(num_shards=group_size, shard_id=rank) if training and group_size > 1 else {}
    dataset = ds.GeneratorDataset(source, column_names=["image", "label"], shuffle=training, num_parallel_workers=1,
                                  **shard)
    return _map_and_batch(dataset, operations, batch_size, training, drop_remainder, len(labels), group_size,
                          num_workers, batch_flag)


def _batch(dataset, batch_size, training, drop_remainder, total, group_size, batch_flag="--batch_size"):
    if training and total // group_size < batch_size:
        raise DataError(f"only {total} training images for batch_size {batch_size} x {group_size} rank(s); "
                        f"lower {batch_flag}")
    return dataset.batch(batch_size, drop_remainder=training if drop_remainder is None else drop_remainder)


def detect_layout(path):
    """The ``dataset`` value a data folder looks like: cifar10, cifar100, mnist or imagenet2012 (class folders, or
    train/ val/ of class folders); None when it is none of them (or does not exist)."""
    path = Path(path)
    if not path.is_dir():
        return None
    names = {entry.name for entry in os.scandir(path)}
    if names & {"cifar-10-batches-bin", "cifar-10-verify-bin", "data_batch_1.bin", "test_batch.bin"}:
        return "cifar10"
    if names & {"cifar-100-binary", "train.bin", "test.bin"}:
        return "cifar100"
    if any(name.endswith("-idx3-ubyte") for name in names) or (path / "MNIST" / "raw").is_dir():
        return "mnist"
    for folder in [path / name for name in ("train", "val", "validation_preprocess") if name in names] + [path]:
        subs = [entry for entry in os.scandir(folder) if entry.is_dir() and not entry.name.startswith(".")]
        if subs and any(_is_image(f.name) for f in os.scandir(subs[0].path) if f.is_file()):
            return "imagenet2012"
    return None


def data_classes(cfg, training, index=None):
    """(number of classes found in the data, where) for the configured layout and split."""
    name = cfg.dataset
    if name in FIXED_DATASETS:
        root = cfg.data_dir if training else (cfg.eval_data_dir or cfg.data_dir)
        return FIXED_DATASETS[name][0], f"the {name} data in {root}"
    if name == "folder":
        return (max(index.labels) + 1 if index.labels else 0), f"the labels of {cfg.label_file}"
    return len(index.classes), f"{index.root} ({len(index.classes)} class folders)"


def check_num_classes(cfg, training, index=None):
    """Stop with one line when the data's class count and ``num_classes`` differ.  Fewer classes than
    ``num_classes`` are accepted in a flat folder (its labels may leave the top classes unused) and in evaluation
    (a val subset of the classes a trained network knows: the labels index its outputs); more never are."""
    found, where = data_classes(cfg, training, index)
    expected = int(cfg.num_classes)
    if found == expected or (found < expected and (cfg.dataset == "folder" or not training)):
        return found
    raise DataError(f"{where} has {found} classes but num_classes is {expected}; pass --num_classes={found}, or "
                    f"point --data_dir at data with {expected} classes")


# ---------------------------------------------------------------------------------------------------------------
# transform building blocks (each model's src/dataset.py states its recipe with these)
# ---------------------------------------------------------------------------------------------------------------

def _normalize(mean, std, scale):
    import mindspore.dataset.vision as V

    return V.Normalize(mean=[m * scale for m in mean], std=[s * scale for s in std])


def imagenet_train_ops(image_size, mean=IMAGENET_MEAN, std=IMAGENET_STD, min_scale=0.08, hflip=True,
                       color_jitter=0.0, scale=255.0):
    """Decode + random resized crop (+ flip, + colour jitter) + normalise + HWC2CHW, from raw bytes."""
    import mindspore.dataset.vision as V

    ops = [V.RandomCropDecodeResize(tuple(image_size), scale=(float(min_scale), 1.0), ratio=(0.75, 1.3333333))]
    if hflip:
        ops.append(V.RandomHorizontalFlip(prob=0.5))
    if color_jitter:
        ops.append(V.RandomColorAdjust(brightness=color_jitter, contrast=color_jitter, saturation=color_jitter))
    ops += [_normalize(mean, std, scale), V.HWC2CHW()]
    return ops


def decode_rgb(raw):
    """Encoded image bytes (uint8 array) -> HWC uint8 RGB, with Pillow.

    Bit-identical to ``mindspore.dataset.vision.Decode`` for JPEG (RGB, grayscale, CMYK), PNG and BMP, but the
    libjpeg-turbo inside MindSpore 2.10's wheel is built without SIMD, and Pillow's is not: 0.75 vs 1.31 ms per
    500x375 JPEG, +20% eval pipeline images/s on 2 cores (benchmarks/RESULTS.md, data-pipeline profile).  Training
    keeps ``RandomCropDecodeResize``, whose decode of the crop window alone beats a full SIMD decode."""
    from io import BytesIO

    from PIL import Image

    with Image.open(BytesIO(memoryview(raw))) as image:
        return np.asarray(image if image.mode == "RGB" else image.convert("RGB"))


def eval_resize(image_size, ratio):
    """Resize target before the centre crop: image_size / ratio (ratio 0.875 turns 224 into 256)."""
    return tuple(int(round(side / float(ratio))) for side in image_size)


def imagenet_eval_ops(image_size, mean=IMAGENET_MEAN, std=IMAGENET_STD, resize_ratio=0.875, keep_aspect=False,
                      scale=255.0, interpolation="bilinear"):
    """Decode (:func:`decode_rgb`) + resize (square, or short side when keep_aspect) + centre crop + normalise +
    HWC2CHW."""
    import mindspore.dataset.vision as V

    inter = {"bilinear": V.Inter.BILINEAR, "bicubic": V.Inter.BICUBIC}[interpolation]
    resize = eval_resize(image_size, resize_ratio)
    return [decode_rgb, V.Resize(min(resize) if keep_aspect else resize, interpolation=inter),
            V.CenterCrop(tuple(image_size)), _normalize(mean, std, scale), V.HWC2CHW()]


def eval_normalization(cfg):
    """``mean``/``std``/``interpolation`` kwargs of :func:`imagenet_eval_ops` from the config keys ``eval_mean``,
    ``eval_std`` ('r,g,b' on a 0-1 scale; '' = ImageNet) and ``eval_interpolation`` (bilinear / bicubic), which a
    converted checkpoint sets for its weights (:mod:`model_zoo.engine.weights_meta`)."""
    from model_zoo.engine.errors import ConfigError

    def triple(key, default):
        text = str(cfg.get(key) or "").strip()
        if not text:
            return tuple(default)
        try:
            values = tuple(float(v) for v in text.replace(" ", "").split(","))
        except ValueError:
            values = ()
        if len(values) != 3 or (key == "eval_std" and min(values) <= 0):
            raise ConfigError(f"--{key} must be three comma-separated numbers (0-1 scale, e.g. 0.5,0.5,0.5), "
                              f"got {text!r}")
        return values

    return {"mean": triple("eval_mean", IMAGENET_MEAN), "std": triple("eval_std", IMAGENET_STD),
            "interpolation": str(cfg.get("eval_interpolation") or "bilinear")}


def cifar_ops(training, image_size=(32, 32), mean=(0.4914, 0.4822, 0.4465), std=(0.2023, 0.1994, 0.2010),
              hflip=True, color_jitter=0.0):
    """CIFAR-10 ops on decoded 32x32 images: (random crop pad 4, flip, jitter,) resize if needed, normalise."""
    return small_image_ops("cifar10", training, image_size, mean, std, hflip, color_jitter)


def fixed_scale_train_ops(image_size, scale, mean=IMAGENET_MEAN, std=IMAGENET_STD, hflip=True, color_jitter=0.0,
                          decode=True, scale_factor=255.0):
    """The paper recipe's fixed-scale training: (decode,) isotropic resize to short side ``scale`` (S), a random
    ``image_size`` crop, (flip, jitter,) normalise, HWC2CHW."""
    import mindspore.dataset.vision as V

    size = tuple(image_size)
    if int(scale) < max(size):
        from model_zoo.engine.errors import ConfigError

        raise ConfigError(f"train_scale {scale} is smaller than the {size[0]}x{size[1]} crop; pass "
                          f"--train_scale={max(size)} or more")
    ops = [V.Decode()] if decode else []
    ops += [V.Resize(int(scale)), V.RandomCrop(size)]
    if hflip:
        ops.append(V.RandomHorizontalFlip(prob=0.5))
    if color_jitter:
        ops.append(V.RandomColorAdjust(brightness=color_jitter, contrast=color_jitter, saturation=color_jitter))
    return ops + [_normalize(mean, std, scale_factor), V.HWC2CHW()]


def small_image_ops(dataset, training, image_size=None, mean=None, std=None, hflip=True, color_jitter=0.0,
                    train_scale=0, eval_resize_ratio=1.0):
    """Ops on decoded CIFAR-10 / CIFAR-100 / MNIST images (MNIST's gray becomes RGB).  With ``train_scale`` (the
    paper's fixed-scale training) a resize to that short side + random crop, and for evaluation the short side to
    image_size / eval_resize_ratio + centre crop; otherwise random crop with 4-pixel padding + flip (+ jitter) and a
    resize to image_size when it differs from the native size."""
    import mindspore.dataset.vision as V

    _, native, default_mean, default_std = FIXED_DATASETS[dataset]
    mean, std = mean or default_mean, std or default_std
    size = tuple(image_size or (native, native))
    ops = [V.ConvertColor(V.ConvertMode.COLOR_GRAY2RGB)] if dataset == "mnist" else []
    if train_scale and training:
        return ops + fixed_scale_train_ops(size, train_scale, mean, std, hflip, color_jitter, decode=False)
    if train_scale:
        return ops + [V.Resize(min(eval_resize(size, eval_resize_ratio))), V.CenterCrop(size),
                      _normalize(mean, std, 255.0), V.HWC2CHW()]
    if training:
        ops.append(V.RandomCrop((native, native), (4, 4, 4, 4)))
        if hflip:
            ops.append(V.RandomHorizontalFlip(prob=0.5))
        if color_jitter:
            ops.append(V.RandomColorAdjust(brightness=color_jitter, contrast=color_jitter, saturation=color_jitter))
    if size != (native, native):
        ops.append(V.Resize(size))
    return ops + [_normalize(mean, std, 255.0), V.HWC2CHW()]


def train_scale(cfg):
    """S of the fixed-scale training (``train_transform=fixed_scale``), else 0."""
    return int(cfg.train_scale) if cfg.get("train_transform") == "fixed_scale" else 0


SMALL_PIPELINES = {"cifar10": "cifar10_pipeline", "cifar100": "cifar100_pipeline", "mnist": "mnist_pipeline"}


def recipe_dataset(cfg, training, rank=0, group_size=1, cifar_mean=(0.4914, 0.4822, 0.4465),
                   cifar_std=(0.2023, 0.1994, 0.2010), cifar_color_jitter=True):
    """The pipeline every recipe uses, from its config: CIFAR-10 / CIFAR-100 / MNIST binaries or an image-folder
    layout, train or eval transforms.  A model's ``src/dataset.py`` states only what is its own (CIFAR-10
    statistics, jitter on CIFAR).  The class count of the data is checked against ``num_classes`` first."""
    from model_zoo.engine.config import flag_name, parse_image_size

    size = parse_image_size(cfg.image_size)
    batch = int(cfg.batch_size if training else (cfg.eval_batch_size or cfg.batch_size))
    batch_flag = flag_name(cfg, "batch_size")
    if cfg.dataset in FIXED_DATASETS:
        check_num_classes(cfg, training)
        jitter = cfg.color_jitter if cifar_color_jitter or cfg.dataset != "cifar10" else 0.0
        mean, std = (cifar_mean, cifar_std) if cfg.dataset == "cifar10" else (None, None)
        ops = small_image_ops(cfg.dataset, training, size, mean, std, cfg.hflip, jitter, train_scale(cfg),
                              cfg.eval_resize_ratio)
        root = cfg.data_dir if training else (cfg.eval_data_dir or cfg.data_dir)
        pipeline = globals()[SMALL_PIPELINES[cfg.dataset]]
        return pipeline(root, ops, batch, training, rank, group_size, cfg.num_parallel_workers, batch_flag=batch_flag)
    index = load_index(cfg, training)
    check_num_classes(cfg, training, index)
    if training and train_scale(cfg):
        ops = fixed_scale_train_ops(size, train_scale(cfg), hflip=cfg.hflip, color_jitter=cfg.color_jitter)
    elif training:
        ops = imagenet_train_ops(size, min_scale=cfg.train_crop_min_scale, hflip=cfg.hflip,
                                 color_jitter=cfg.color_jitter)
    else:
        ops = imagenet_eval_ops(size, resize_ratio=cfg.eval_resize_ratio, keep_aspect=cfg.eval_keep_aspect,
                                **eval_normalization(cfg))
    return image_pipeline(index, ops, batch, training, rank, group_size, cfg.num_parallel_workers,
                          batch_flag=batch_flag)


def load_index(cfg, training):
    """The sample index of the configured layout and split (``dataset``: imagenet2012 / imagenet / folder)."""
    from model_zoo.engine import verify

    if training:
        root = cfg.data_dir
    else:
        root = cfg.eval_data_dir or cfg.data_dir
    if not root:
        raise DataError("no data folder given; pass --data_dir (and --eval_data_dir for a separate val set)")
    if cfg.dataset == "folder":
        index = scan_flat_folder(root, cfg.label_file)
    else:
        use_split = training or not cfg.eval_data_dir
        index = scan_class_folders(split_dir(root, "train" if training else "eval") if use_split else
                                   split_dir(root, "eval"))
    return verify.check_index(index, cfg.get("bad_file_policy", "fail"))


def folder_dataset(data_dir, image_size, per_batch_size, rank=0, group_size=1, mode="train", input_mode="folder",
                   root="", num_parallel_workers=None, drop_remainder=True, resize_ratio=0.875, color_jitter=0.0):
    """The upstream ``classification_dataset`` of an image folder (``input_mode='folder'``: class folders) or a
    label list (``'txt'``: ``data_dir`` is the ``name label`` file, ``root`` the image folder), as MindSpore batches:
    random resized crop + flip (+ jitter) for ``mode='train'``, square resize to image_size / resize_ratio + centre
    crop otherwise; ImageNet mean/std."""
    from model_zoo.engine.config import parse_image_size

    size = parse_image_size(image_size)
    index = scan_flat_folder(root, data_dir) if input_mode == "txt" else scan_class_folders(data_dir)
    training = mode == "train"
    ops = imagenet_train_ops(size, color_jitter=color_jitter) if training else \
        imagenet_eval_ops(size, resize_ratio=resize_ratio)
    return image_pipeline(index, ops, int(per_batch_size), training, rank, group_size, num_parallel_workers or 0,
                          drop_remainder)
