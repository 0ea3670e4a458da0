"""Evaluation: top-1 / top-5 counted over every image exactly once, summed over ranks with a real all-reduce."""
import csv
import json
import time
from pathlib import Path

import numpy as np

from model_zoo.engine import checkpoint as ckpt_io
from model_zoo.engine import runtime
from model_zoo.engine.console import note
from model_zoo.engine.progress import Progress


def _log_softmax(logits):
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def eval_progress(total_batches, logger=None, interval=100):
    """``report(batches_done, images_done)`` for :func:`count_topk`: batches done / total, img/s and ETA (a live
    line on a terminal, else a log line every ``interval`` batches)."""
    progress, interval = Progress(total_batches, logger), max(1, int(interval))

    def report(done, images):
        line = f"eval batch {done}/{progress.total} {progress.measure(done, images)}"
        progress.show(line, due=done % interval == 0 and done < progress.total, last=done >= progress.total)

    return report


def count_topk(predict, dataset, batch_size, k=5, num_classes=0, progress=None):
    """Run ``predict`` (numpy batch -> numpy logits) over ``dataset``.

    The last, smaller batch is padded to ``batch_size`` (so a compiled graph keeps one shape) and the padding
    is dropped from the results.  Returns dict(top1, top5, tot, loss_sum, seconds) and, with ``num_classes``,
    ``confusion`` (rows: true class, columns: top-1 prediction).
    """
    top1 = topk = total = 0
    loss_sum = 0.0
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64) if num_classes else None
    start = time.time()
    for images, labels in dataset.create_tuple_iterator(output_numpy=True, num_epochs=1):
        count = images.shape[0]
        if count < batch_size:
            images = np.concatenate([images, np.zeros((batch_size - count,) + images.shape[1:], images.dtype)])
        logits = np.asarray(predict(images), dtype=np.float32)[:count]
        labels = labels.astype(np.int64)
        kk = min(k, logits.shape[1])
        ranked = np.argsort(-logits, axis=1, kind="stable")[:, :kk]
        top1 += int((ranked[:, 0] == labels).sum())
        topk += int((ranked == labels[:, None]).any(axis=1).sum())
        loss_sum += float(-_log_softmax(logits)[np.arange(count), labels].sum())
        total += count
        if progress is not None:
            progress(total // batch_size + (total % batch_size > 0), total)
        if confusion is not None:
            np.add.at(confusion, (labels, ranked[:, 0]), 1)
    result = {"top1": top1, "top5": topk, "tot": total, "loss_sum": loss_sum, "seconds": time.time() - start}
    if confusion is not None:
        result["confusion"] = confusion
    return result


def all_reduce_counts(counts, group_size):
    """Sum the integer counts and the loss over ranks (``mindspore.ops.communication.all_reduce``: works on CPU
    for int32 and float32; ``ops.AllReduce`` rejects int32 and ``comm_func.all_reduce`` fails there)."""
    if group_size <= 1:
        return dict(counts)
    import mindspore as ms
    from mindspore.ops.communication import all_reduce

    ints = ms.Tensor(np.array([counts["top1"], counts["top5"], counts["tot"]], dtype=np.int32))
    floats = ms.Tensor(np.array([counts["loss_sum"]], dtype=np.float32))
    all_reduce(ints)
    all_reduce(floats)
    top1, top5, tot = (int(v) for v in ints.asnumpy())
    out = dict(counts, top1=top1, top5=top5, tot=tot, loss_sum=float(floats.asnumpy()[0]))
    if "confusion" in counts:
        matrix = ms.Tensor(counts["confusion"].astype(np.int32))
        all_reduce(matrix)
        out["confusion"] = matrix.asnumpy().astype(np.int64)
    return out


def network_predictor(net):
    import mindspore as ms

    net.set_train(False)

    def predict(images):
        return net(ms.Tensor(images)).asnumpy()

    return predict


# ---------------------------------------------------------------------------------------------------------------
# dense and multi-crop evaluation (Simonyan & Zisserman 2015, sec. 3.2)
# ---------------------------------------------------------------------------------------------------------------

EVAL_MODES = ("center", "dense", "multi_crop", "dense+multi_crop")


def eval_scales(cfg):
    """Test scales Q (short side): ``eval_scales``, else image_size / eval_resize_ratio (256 for 224)."""
    from model_zoo.engine.config import parse_image_size, parse_int_list

    text = str(cfg.get("eval_scales") or "").strip()
    if text:
        return parse_int_list(text)
    return [int(round(min(parse_image_size(cfg.image_size)) / float(cfg.eval_resize_ratio)))]


class WholeImages:
    """The evaluation images, decoded whole (1 x H x W x 3 uint8 RGB) with their labels, one at a time: what the
    dense and multi-crop predictors resize and crop themselves.  Image folders, MNIST or CIFAR-100."""

    def __init__(self, cfg, rank=0, group_size=1):
        from model_zoo.engine import data
        from model_zoo.engine.errors import ConfigError

        self.cfg = cfg
        if cfg.dataset in ("mnist", "cifar100"):
            data.check_num_classes(cfg, False)
            self.images, self.labels = self._records(cfg)
            self.mean, self.std = data.FIXED_DATASETS[cfg.dataset][2:]
        elif cfg.dataset == "cifar10":
            raise ConfigError(f"--eval_mode {cfg.eval_mode} reads image folders, MNIST or CIFAR-100; evaluate "
                              f"CIFAR-10 with --eval_mode center")
        else:
            index = data.load_index(cfg, False)
            data.check_num_classes(cfg, False, index)
            self.images, self.labels = index.paths, index.labels
            norm = data.eval_normalization(cfg)
            self.mean, self.std = norm["mean"], norm["std"]
            self.zoo_classes = list(index.classes)
        self.images, self.labels = self.images[rank::group_size], list(self.labels)[rank::group_size]

    @staticmethod
    def _records(cfg):
        from model_zoo.engine import data

        root = cfg.eval_data_dir or cfg.data_dir
        if cfg.dataset == "cifar100":
            labels, images = data.cifar100_records(root, False)
            return images, labels
        import mindspore.dataset as ds

        folder, usage = data.mnist_dirs(root, False)
        pairs = list(ds.MnistDataset(str(folder), usage=usage, shuffle=False).create_tuple_iterator(
            output_numpy=True, num_epochs=1))
        return [np.repeat(image, 3, axis=2) for image, _ in pairs], [int(label) for _, label in pairs]

    def get_dataset_size(self):
        return len(self.labels)

    def create_tuple_iterator(self, output_numpy=True, num_epochs=1):
        from model_zoo.engine.data import decode_rgb

        for image, label in zip(self.images, self.labels):
            if isinstance(image, str):
                with open(image, "rb") as handle:
                    image = decode_rgb(np.frombuffer(handle.read(), dtype=np.uint8))
            yield np.asarray(image)[None], np.array([label], dtype=np.int32)


def _softmax(logits):
    return np.exp(_log_softmax(np.asarray(logits, dtype=np.float64)))


class MultiScalePredictor:
    """Whole image -> log of the averaged class posteriors, over the test scales Q (short side resized to Q):
    ``dense`` runs the fully convolutional network on the whole image (class scores averaged over space),
    ``multi_crop`` the network on a G x G grid of crops; with ``eval_flip`` each also on the mirrored input;
    ``dense+multi_crop`` averages the two."""

    def __init__(self, cfg, net, dense_net, mean, std):
        import mindspore.dataset.vision as V

        from model_zoo.engine.config import parse_image_size

        self.mode, self.net, self.dense = cfg.eval_mode, net, dense_net
        self.scales, self.grid, self.flip = eval_scales(cfg), int(cfg.multi_crop_grid), bool(cfg.eval_flip)
        self.size = parse_image_size(cfg.image_size)
        if self.grid < 1 or min(self.scales) < min(self.size):
            from model_zoo.engine.errors import ConfigError

            raise ConfigError(f"--eval_scales {self.scales} must be at least the {self.size[0]}x{self.size[1]} input "
                              f"and --multi_crop_grid at least 1")
        self.mean = np.asarray(mean, np.float32).reshape(3, 1, 1) * 255.0
        self.std = np.asarray(std, np.float32).reshape(3, 1, 1) * 255.0
        inter = {"bilinear": V.Inter.BILINEAR, "bicubic": V.Inter.BICUBIC}[str(cfg.get("eval_interpolation")
                                                                                  or "bilinear")]
        self.resizers = {q: V.Resize(q, interpolation=inter) for q in self.scales}

    def _run(self, net, batch):
        import mindspore as ms

        views = [batch, batch[..., ::-1]] if self.flip else [batch]
        return np.concatenate([_softmax(net(ms.Tensor(np.ascontiguousarray(v))).asnumpy()) for v in views])

    def _crops(self, x):
        (h, w), (_, height, width) = self.size, x.shape
        rows = np.linspace(0, height - h, self.grid).round().astype(int)
        cols = np.linspace(0, width - w, self.grid).round().astype(int)
        return np.stack([x[:, r:r + h, c:c + w] for r in rows for c in cols])

    def __call__(self, images):
        posteriors = []
        for q in self.scales:
            x = (self.resizers[q](images[0]).astype(np.float32).transpose(2, 0, 1) - self.mean) / self.std
            per_scale = []
            if "dense" in self.mode:
                per_scale.append(self._run(self.dense, x[None]).mean(axis=0))
            if "multi_crop" in self.mode:
                per_scale.append(self._run(self.net, self._crops(x)).mean(axis=0))
            posteriors.append(np.mean(per_scale, axis=0))
        return np.log(np.maximum(np.mean(posteriors, axis=0), 1e-30))[None]


def eval_source(recipe, cfg, net, rank, group_size):
    """(dataset, predict, batch size) of the configured ``eval_mode``."""
    import mindspore as ms

    from model_zoo.engine.errors import ConfigError

    mode = str(cfg.get("eval_mode") or "center")
    if mode not in EVAL_MODES:
        raise ConfigError(f"--eval_mode {mode!r} is not one of {', '.join(EVAL_MODES)}")
    if mode == "center":
        return recipe.dataset(cfg, False, rank, group_size), network_predictor(net), \
            int(cfg.eval_batch_size or cfg.batch_size)
    dense = None
    if "dense" in mode:
        if recipe.dense_network is None:
            raise ConfigError(f"--eval_mode {mode}: {recipe.name} has no fully convolutional form; use "
                              f"--eval_mode multi_crop")
        net.set_train(False)
        dense = recipe.dense_network(cfg, net)
        dense.set_train(False)
        dense.set_inputs(ms.Tensor(shape=[None, 3, None, None], dtype=ms.float32))  # one graph for every image size
    images = WholeImages(cfg, rank, group_size)
    net.set_train(False)
    return images, MultiScalePredictor(cfg, net, dense, images.mean, images.std), 1


def evaluate(recipe, cfg):
    """Evaluate ``cfg.pre_trained`` (a checkpoint, or every checkpoint of a folder, newest first)."""
    if not cfg.pre_trained:
        from model_zoo.engine.errors import ConfigError

        raise ConfigError(f"eval needs weights: pass {cfg.flag('pre_trained')} (a checkpoint file or a folder of them)")
    from model_zoo.engine.config import require_positive

    require_positive(cfg, "eval_batch_size" if cfg.get("eval_batch_size") else "batch_size")
    # the configuration already holds what the (newest) checkpoint records or implies (cli.resolve)
    ctx = runtime.setup(cfg, "eval", output_root_key="log_path")
    try:
        return _evaluate(recipe, cfg, ctx)
    finally:
        ctx.close()


def _evaluate(recipe, cfg, ctx):
    from model_zoo.engine import weights

    logger = ctx.logger
    results = []
    for path in ckpt_io.checkpoints_in(cfg.pre_trained):
        net = weights.network(recipe, cfg, "test", path, log=logger.info)
        logger.info(f"load model {path} success")
        dataset, predict, batch_size = eval_source(recipe, cfg, net, ctx.rank, ctx.group_size)
        classes = class_names(dataset, cfg)
        with runtime.profiling(cfg, ctx.output_dir, logger):
            local = count_topk(predict, dataset, batch_size, num_classes=len(classes) if cfg.eval_per_class else 0,
                               progress=eval_progress(dataset.get_dataset_size(), logger, cfg.log_interval))
        counts = all_reduce_counts(local, ctx.group_size)
        counts["fps"] = counts["tot"] / max(local["seconds"], 1e-9)
        counts["checkpoint"] = str(path)
        for line in recipe.eval_lines(cfg, dict(counts, local=local)):
            logger.info(line)
        if ctx.is_main:
            suffix = f"_{Path(path).stem}" if len(results) or Path(cfg.pre_trained).is_dir() else ""
            if cfg.eval_per_class:
                for written in write_per_class(counts["confusion"], classes, ctx.output_dir, suffix,
                                               warn=logger.info):
                    logger.info(f"wrote {written}")
            if cfg.eval_results_file:
                logger.info(f"wrote {write_results(counts, cfg.eval_results_file, suffix)}")
        results.append(counts)
    return results


CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def class_names(dataset, cfg):
    names = getattr(dataset, "zoo_classes", None)
    if names:
        return list(names)
    if cfg.dataset == "cifar10" and int(cfg.num_classes) == 10:
        return list(CIFAR10_CLASSES)
    return [str(i) for i in range(int(cfg.num_classes))]


def write_per_class(confusion, classes, directory, suffix="", warn=None):
    """per_class<suffix>.csv (class, correct, total, accuracy), confusion_matrix<suffix>.csv and, for up to
    100 classes, confusion_matrix<suffix>.png (a plotting failure is reported through ``warn``, one line, never
    fatal: the CSVs hold the numbers)."""
    from model_zoo.engine.plots import failure, plot_confusion

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    per_class = directory / f"per_class{suffix}.csv"
    with open(per_class, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["class_index", "class_name", "correct", "total", "accuracy"])
        for i, name in enumerate(classes):
            total = int(confusion[i].sum())
            correct = int(confusion[i, i])
            writer.writerow([i, name, correct, total, f"{correct / total:.6f}" if total else ""])
    matrix = directory / f"confusion_matrix{suffix}.csv"
    with open(matrix, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["true\\predicted"] + list(classes))
        for name, row in zip(classes, confusion):
            writer.writerow([name] + [int(v) for v in row])
    written = [per_class, matrix]
    try:
        picture = plot_confusion(confusion, classes, directory / f"confusion_matrix{suffix}.png")
    except Exception as exc:  # never let a picture stop an evaluation
        picture = None
        message = failure(f"confusion_matrix{suffix}.png", exc)
        if warn is None:
            note(message)
        else:
            warn(message)
    if picture:
        written.append(picture)
    return written


def write_results(counts, target, suffix=""):
    """The printed counts as JSON (or CSV when the name ends in .csv)."""
    target = Path(target)
    if suffix:
        target = target.with_name(target.stem + suffix + target.suffix)
    tot = max(counts["tot"], 1)
    record = {"checkpoint": counts["checkpoint"], "top1_correct": counts["top1"], "top5_correct": counts["top5"],
              "tot": counts["tot"], "top1_acc": counts["top1"] / tot, "top5_acc": counts["top5"] / tot,
              "loss": counts["loss_sum"] / tot, "imgs_per_sec": counts["fps"]}
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.suffix.lower() == ".csv":
        with open(target, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, list(record))
            writer.writeheader()
            writer.writerow(record)
    else:
        target.write_text(json.dumps(record, indent=2), encoding="utf-8")
    return target
