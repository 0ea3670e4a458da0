"""Data layouts and pipelines on generated data: ImageNet folders, flat folder + labels, CIFAR-10 binaries."""
import json

import numpy as np
import pytest
from PIL import Image

from model_zoo.engine import data
from model_zoo.engine.errors import DataError

SIZE = (32, 32)


def _collect(dataset):
    images, labels = [], []
    for image, label in dataset.create_tuple_iterator(output_numpy=True, num_epochs=1):
        images.append(image)
        labels.append(label)
    return images, np.concatenate(labels)


def test_numpy_is_below_2_for_generator_dataset():
    # MindSpore 2.10's GeneratorDataset calls np.array(x, copy=False), which numpy 2 rejects
    assert int(np.__version__.split(".")[0]) < 2


def test_class_folder_index_is_sorted_and_filtered(tiny_folder):
    (tiny_folder / "train" / "class_00" / ".hidden").write_text("x")
    (tiny_folder / "train" / "class_00" / "notes.txt").write_text("x")
    index = data.scan_class_folders(tiny_folder / "train")
    assert index.classes == ["class_00", "class_01", "class_02"]
    assert len(index) == 24 and index.labels == sorted(index.labels)
    assert all(p.endswith(".JPEG") for p in index.paths)


@pytest.mark.parametrize("mode,fmt", [("RGB", "JPEG"), ("L", "JPEG"), ("CMYK", "JPEG"), ("RGBA", "PNG"),
                                      ("P", "PNG"), ("RGB", "BMP")])
def test_eval_decode_matches_mindspore_decode(mode, fmt):
    # the eval transform decodes with Pillow (SIMD libjpeg-turbo); its pixels must be MindSpore Decode's, bit for bit
    import io

    import mindspore.dataset.vision as V

    rng = np.random.default_rng(3)
    smooth = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize((75, 61), Image.BICUBIC)
    buf = io.BytesIO()
    smooth.convert(mode).save(buf, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    raw = np.frombuffer(buf.getvalue(), dtype=np.uint8)
    ours, theirs = data.decode_rgb(raw), V.Decode()(raw)
    assert ours.dtype == np.uint8 and ours.shape == theirs.shape == (61, 75, 3)
    assert np.array_equal(ours, theirs)
    assert data.imagenet_eval_ops(SIZE)[0] is data.decode_rgb


def test_imagenet_train_and_eval_pipelines(tiny_folder):
    index = data.scan_class_folders(tiny_folder / "train")
    train = data.image_pipeline(index, data.imagenet_train_ops(SIZE), 4, training=True)
    assert train.get_dataset_size() == 6
    images, labels = _collect(train)
    assert images[0].shape == (4, 3, 32, 32) and images[0].dtype == np.float32
    assert sorted(np.unique(labels)) == [0, 1, 2] and labels.dtype == np.int32
    val = data.scan_class_folders(data.split_dir(tiny_folder, "eval"))
    ev = data.image_pipeline(val, data.imagenet_eval_ops(SIZE), 4, training=False)
    images, labels = _collect(ev)
    assert [i.shape[0] for i in images] == [4, 4, 1]     # nothing dropped
    assert labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    # class 0 is red-dominant: after normalisation its red channel mean is the largest
    first = images[0][0]
    assert first[0].mean() > first[1].mean() and first[0].mean() > first[2].mean()


def test_eval_sharding_counts_every_image_once(tiny_folder):
    val = data.scan_class_folders(data.split_dir(tiny_folder, "eval"))
    seen = []
    for rank in range(2):
        part = val.subset(rank, 2)
        seen += part.paths
        _, labels = _collect(data.image_pipeline(part, data.imagenet_eval_ops(SIZE), 4, training=False, rank=rank,
                                                 group_size=1))
        assert len(labels) == len(part)
    assert sorted(seen) == sorted(val.paths) and len(seen) == 9


def test_flat_folder_with_label_file(tmp_path):
    folder = tmp_path / "flat"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(5):
        Image.fromarray(rng.integers(0, 255, (36, 36, 3), dtype=np.uint8)).save(folder / f"ILSVRC_{i}.JPEG")
    (tmp_path / "labels.txt").write_text("".join(f"ILSVRC_{i}.JPEG {i % 2}\n" for i in range(5)))
    index = data.scan_flat_folder(folder, tmp_path / "labels.txt")
    assert index.labels == [0, 1, 0, 1, 0]
    (tmp_path / "labels.json").write_text(json.dumps({f"ILSVRC_{i}": 4 - i for i in range(5)}))
    index = data.scan_flat_folder(folder, tmp_path / "labels.json")
    assert index.labels == [4, 3, 2, 1, 0]
    _, labels = _collect(data.image_pipeline(index, data.imagenet_eval_ops(SIZE), 2, training=False))
    assert labels.tolist() == [4, 3, 2, 1, 0]
    (tmp_path / "partial.txt").write_text("ILSVRC_0.JPEG 0\n")
    with pytest.raises(DataError, match="have no label"):
        data.scan_flat_folder(folder, tmp_path / "partial.txt")


def test_cifar10_binary_pipelines(cifar_root):
    train = data.cifar10_pipeline(cifar_root, data.cifar_ops(True), 500, training=True)
    assert train.get_dataset_size() == 10000 // 500
    images, _ = _collect(train)
    assert images[0].shape == (500, 3, 32, 32)
    total = 0
    for rank in range(3):
        _, labels = _collect(data.cifar10_pipeline(cifar_root, data.cifar_ops(False, (40, 40)), 512, training=False,
                                                   rank=rank, group_size=3))
        total += len(labels)
    assert total == 10000                                            # 10000 / 3 ranks: nothing padded or dropped
    raw = (cifar_root / "cifar-10-verify-bin" / "test_batch.bin").read_bytes()
    _, labels = _collect(data.cifar10_pipeline(cifar_root, data.cifar_ops(False), 1000, training=False))
    assert labels.tolist() == [raw[i * 3073] for i in range(10000)]
    truncated = cifar_root / "short"
    (truncated / "cifar-10-batches-bin").mkdir(parents=True)
    (truncated / "cifar-10-batches-bin" / "data_batch_1.bin").write_bytes(raw[:3073 * 5 + 100])
    with pytest.raises(DataError, match="truncated"):
        data.cifar10_pipeline(truncated, data.cifar_ops(True), 4, training=True)


def test_missing_and_empty_data_give_clear_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        data.scan_class_folders(tmp_path / "nope")
    (tmp_path / "root" / "a").mkdir(parents=True)
    with pytest.raises(DataError, match="class folder.*with no images.*a"):
        data.scan_class_folders(tmp_path / "root")
    with pytest.raises(DataError, match="no class folders"):
        data.scan_class_folders(tmp_path / "root" / "a")
    with pytest.raises(DataError, match="data_batch_1.bin"):
        data.cifar10_dirs(tmp_path, training=True)
