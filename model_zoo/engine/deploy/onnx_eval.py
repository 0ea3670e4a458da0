"""``eval_onnx.py`` (as two upstream recipes ship it): ``eval.py`` on an exported file instead of a checkpoint.

The data go through the recipe's own eval pipeline (the very dataset ``eval.py`` reads) and the counts through
``evaluate.count_topk``; the recipe prints its ``eval.py`` lines.  The model is ``--model_file`` (or the upstream
``--file_name`` / ``--ckpt_files`` spellings); ONNX runs through onnxruntime, MINDIR through GraphCell.
"""
from model_zoo.engine.console import say
from model_zoo.engine.deploy import common
from model_zoo.engine.evaluate import count_topk


def use_model_input_size(cfg, model):
    """An exported file fixes the input size: take it unless the command line sets --image_size."""
    if model.image_size and cfg.sources.get("image_size") != "command line":
        cfg.image_size = f"{model.image_size[0]},{model.image_size[1]}"


def evaluate_model(recipe, cfg, model):
    """Counts (top1, top5, tot, loss_sum, seconds) of a numpy model function on the recipe's eval set."""
    dataset = recipe.dataset(cfg, False)
    return count_topk(model, dataset, int(cfg.get("eval_batch_size") or cfg.batch_size))


def eval_onnx(recipe, cfg):
    source = common.model_path(cfg)
    model = common.ExportedModel(source, cfg)
    use_model_input_size(cfg, model)
    say(f"load model {source} success")
    counts = evaluate_model(recipe, cfg, model)
    for line in common.eval_lines(recipe, cfg, counts):
        say(line)
    return counts
