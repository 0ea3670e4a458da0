"""Evaluation: top-1 / top-5 counted over every image exactly once, summed over ranks with a real all-reduce."""
import csv
import json
import time
from pathlib import Path

import numpy as np

from model_zoo.engine import checkpoint as ckpt_io
from model_zoo.engine import runtime


def _log_softmax(logits):
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


class Progress:
    """Evaluation progress: batches done / total, img/s and ETA (a live line on a terminal, else a log line every
    ``interval`` batches)."""

    def __init__(self, total_batches, logger=None, interval=100):
        import sys

        self.total, self.logger, self.interval = max(1, int(total_batches)), logger, max(1, int(interval))
        self.tty = sys.stderr.isatty()
        self.start = time.time()

    def __call__(self, done, images):
        import sys

        elapsed = time.time() - self.start
        eta = (self.total - done) * elapsed / max(done, 1)
        line = f"eval batch {done}/{self.total} {images / max(elapsed, 1e-9):.1f} img/s ETA {int(eta) // 60}:{int(eta) % 60:02d}"
        if self.tty:
            sys.stderr.write("\r" + line + ("\n" if done >= self.total else ""))
            sys.stderr.flush()
        elif self.logger is not None and done % self.interval == 0 and done < self.total:
            self.logger.info(line)


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


def evaluate(recipe, cfg):
    """Evaluate ``cfg.pre_trained`` (a checkpoint, or every checkpoint of a folder, newest first)."""
    if not cfg.pre_trained:
        from model_zoo.engine.errors import ConfigError

        raise ConfigError(f"eval needs weights: pass {cfg.flag('pre_trained')} (a checkpoint file or a folder of them)")
    from model_zoo.engine import weights
    from model_zoo.engine.config import require_positive

    require_positive(cfg, "eval_batch_size" if cfg.get("eval_batch_size") else "batch_size")
    # the configuration already holds what the (newest) checkpoint records or implies (cli.resolve)
    ctx = runtime.setup(cfg, "eval", output_root_key="log_path")
    logger = ctx.logger
    batch_size = int(cfg.eval_batch_size or cfg.batch_size)
    results = []
    for path in ckpt_io.checkpoints_in(cfg.pre_trained):
        dataset = recipe.dataset(cfg, False, ctx.rank, ctx.group_size)
        net = weights.network(recipe, cfg, "test", path, log=logger.info)
        logger.info(f"load model {path} success")
        classes = class_names(dataset, cfg)
        local = count_topk(network_predictor(net), dataset, batch_size,
                           num_classes=len(classes) if cfg.eval_per_class else 0,
                           progress=Progress(dataset.get_dataset_size(), logger, cfg.log_interval))
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
            import sys

            print(message, file=sys.stderr)
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
