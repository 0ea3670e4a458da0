"""Prediction: ``predict.py --ckpt_file X.ckpt IMAGE_OR_FOLDER ...`` (or ``--model_file X.mindir|X.onnx``).

Prints the top-k classes of every image with their probabilities (softmax of the logits, or exp of the
log-probabilities an upstream LogSoftmax head outputs), named by the checkpoint's class folders, a
``--class_names`` file or, for 1000 outputs, the ImageNet-1k names shipped in ``model_zoo/data``.  The images go
through the recipe's eval transform (sizes from the model file, checkpoint metadata or flags).
"""
import csv
import json
from pathlib import Path

import numpy as np

from model_zoo.engine import weights
from model_zoo.engine.console import say
from model_zoo.engine.deploy import common, labels
from model_zoo.engine.errors import ConfigError, DataError

POSITIONALS = [("inputs", dict(nargs="*", help="image files or folders of images"))]


def load_model(recipe, cfg):
    """(numpy function, checkpoint metadata, log-probabilities flag or None (= detect), exported model or None,
    description) of the model the flags name."""
    source = common.model_path(cfg, allow_checkpoint=True)
    if common.is_checkpoint(source):
        common.setup_device(cfg)
        net, meta = common.checkpoint_network(recipe, cfg, source)
        log_probs = True if getattr(net, "head_type", None) == "upstream" else None
        return common.network_function(net), meta, log_probs, None, f"checkpoint {source}"
    # an exported file plus its checkpoint: the checkpoint configured names and preprocessing (common.resolve)
    loaded = weights.attached(cfg)
    model = common.ExportedModel(source, cfg)
    return model, loaded.meta if loaded else {}, None, model, f"{model.kind.upper()} {source}"


def expand_inputs(inputs, policy="fail"):
    if not inputs:
        raise ConfigError("no images given: predict.py --ckpt_file X.ckpt IMAGE_OR_FOLDER [...]")
    paths = []
    for item in inputs:
        path = Path(item)
        if not path.exists():
            raise DataError(f"{path} does not exist; pass image files or folders of images")
        found = common.image_files(path, recursive_levels=64) if path.is_dir() else [str(path)]
        if path.is_dir() and not found:
            raise DataError(f"no images in {path}; expected .jpg/.jpeg/.png/.bmp files")
        paths.extend(str(p) for p in found)
    return common.checked_images(paths, str(Path(paths[0]).parent), policy)


def predict(recipe, cfg):
    paths = expand_inputs(cfg.get("inputs") or [], cfg.get("bad_file_policy", "fail"))
    function, meta, log_probs, model, description = load_model(recipe, cfg)
    spec = common.preprocess_spec(cfg, model=model)
    batch = (model.batch if model is not None and model.batch else None) or min(len(paths), 32)
    top_k = max(1, int(cfg.top_k))
    rows, names = [], None
    for images, batch_paths in common.image_batches(paths, spec, batch, cfg.num_parallel_workers):
        outputs = np.asarray(function(images), dtype=np.float64)[:len(batch_paths)]
        probs = common.probabilities(outputs, log_probs)
        if names is None:
            names, name_source = labels.class_names(outputs.shape[1], meta, cfg.class_names)
        order = np.argsort(-probs, axis=1, kind="stable")[:, :top_k]
        for path, ranked, prob in zip(batch_paths, order, probs):
            rows.append({"image": path, "top": [{"rank": r + 1, "class_index": int(c), "label": names[int(c)],
                                                 "probability": float(prob[c])} for r, c in enumerate(ranked)]})
    say(f"{description}: {len(rows)} image(s), input {spec['image_size'][0]}x{spec['image_size'][1]}, "
        f"class names from {name_source}")
    for row in rows:
        say(row["image"])
        for entry in row["top"]:
            say(f"  {entry['rank']}. {entry['probability']:.4f}  {entry['label']}")
    write_outputs(rows, cfg.output_csv, cfg.output_json)
    return rows


def write_outputs(rows, csv_path="", json_path=""):
    if csv_path:
        Path(csv_path).parent.mkdir(parents=True, exist_ok=True)
        with open(csv_path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["image", "rank", "class_index", "label", "probability"])
            for row in rows:
                for entry in row["top"]:
                    writer.writerow([row["image"], entry["rank"], entry["class_index"], entry["label"],
                                     f"{entry['probability']:.8g}"])
        say(f"wrote {csv_path}")
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps(rows, indent=1), encoding="utf-8")
        say(f"wrote {json_path}")
