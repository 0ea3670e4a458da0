"""Evaluation: top-1 / top-5 counted over every image exactly once, summed over ranks with a real all-reduce."""
import time

import numpy as np

from model_zoo.engine import checkpoint as ckpt_io
from model_zoo.engine import runtime


def _log_softmax(logits):
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def count_topk(predict, dataset, batch_size, k=5):
    """Run ``predict`` (numpy batch -> numpy logits) over ``dataset``.

    The last, smaller batch is padded to ``batch_size`` (so a compiled graph keeps one shape) and the padding
    is dropped from the results.  Returns dict(top1, top5, tot, loss_sum, seconds).
    """
    top1 = topk = total = 0
    loss_sum = 0.0
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
    return {"top1": top1, "top5": topk, "tot": total, "loss_sum": loss_sum, "seconds": time.time() - start}


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
    return dict(counts, top1=top1, top5=top5, tot=tot, loss_sum=float(floats.asnumpy()[0]))


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
    ctx = runtime.setup(cfg, "eval", output_root_key="log_path")
    logger = ctx.logger
    batch_size = int(cfg.eval_batch_size or cfg.batch_size)
    results = []
    for path in ckpt_io.checkpoints_in(cfg.pre_trained):
        dataset = recipe.dataset(cfg, False, ctx.rank, ctx.group_size)
        net = recipe.network(cfg, "test")
        ckpt_io.load_into(net, path)
        logger.info(f"load model {path} success")
        local = count_topk(network_predictor(net), dataset, batch_size)
        counts = all_reduce_counts(local, ctx.group_size)
        counts["fps"] = counts["tot"] / max(local["seconds"], 1e-9)
        counts["checkpoint"] = str(path)
        for line in recipe.eval_lines(cfg, dict(counts, local=local)):
            logger.info(line)
        results.append(counts)
    return results
