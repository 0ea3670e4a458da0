"""Convert weights from anywhere into a zoo checkpoint that records the network and preprocessing they need.

    python -m model_zoo.convert --src torchvision_weights.pth --dst zoo.ckpt
    python -m model_zoo.convert --src model.safetensors --dst zoo.ckpt           (timm, Hugging Face hub layout)
    python -m model_zoo.convert --src 0-120_5004.ckpt --dst zoo.ckpt            (an upstream ModelZoo checkpoint)
    python -m model_zoo.convert --src zoo.ckpt --dst upstream_names.ckpt --to upstream

Sources: anything :mod:`model_zoo.engine.weights` reads (zoo and upstream MindSpore ModelZoo ``.ckpt``, MindSpore
Hub files, torchvision / timm ``.pth`` and ``.safetensors``); the model folders' weight maps recognise the layout
and the architecture (``--arch`` only checks it).  The output is a zoo checkpoint whose ``zoo_*`` entries record the
arch, classes, the network options the weights were computed with (the recipe's network keys: pooling, head,
BatchNorm eps ...) and their eval preprocessing
(:mod:`model_zoo.engine.pretrained`); every tool rebuilds that network from it with no extra flag.  ``--to
upstream`` writes the upstream ModelZoo names instead (network entries only, as a MindSpore Hub file).
"""
import argparse
import sys
from pathlib import Path

from model_zoo.engine.errors import CheckpointError, ZooError
from model_zoo.engine.pretrained import INTERPOLATIONS, find_timm_config, preprocess_for, read_classes, \
    read_timm_config, resize_ratio


def _timm_preprocess(loaded, spec, src, interpolation, crop_pct, timm_config, log):
    """Preprocessing of torch weights: the arch's pretrained_cfg, a timm config.json's, the flags."""
    config_path = find_timm_config(src, timm_config)
    timm_cfg = {}
    if config_path:
        try:
            timm_cfg = read_timm_config(config_path)
        except CheckpointError as exc:
            if timm_config is not None:  # named by the user: its problems are errors
                raise
            log(f"note: ignoring {config_path} beside the weights ({exc})")
            config_path = None
    fixed = loaded.options.get("image_size")  # the weights fix the input size (a Dense layer's inputs)
    if fixed and "input_size" in timm_cfg and not loaded.maps.fits("image_size", ",".join(
            map(str, timm_cfg["input_size"])), fixed):
        log(f"note: {config_path.name} gives input size {timm_cfg['input_size']}, but the weights are for {fixed}: "
            f"using {fixed}")
        timm_cfg.pop("input_size")
    if config_path:
        used = ", ".join(k for k in ("input_size", "interpolation", "crop_pct", "mean", "std") if k in timm_cfg)
        log(f"note: preprocessing from {config_path} ({used or 'nothing usable'}; flags override it)")
        described = timm_cfg.get("architecture", "").split(".")[0]
        if described and described != spec.name and _registered(described) != spec.name:
            log(f"warning: {config_path.name} describes a {described!r} model, not {spec.name}")
    return preprocess_for(spec.pretrained_cfg, interpolation, crop_pct, timm_cfg), timm_cfg, config_path


def _recipe_preprocess(loaded, cfg, interpolation, crop_pct):
    """Preprocessing of MindSpore weights: what a zoo checkpoint records, else the upstream recipe YAML's."""
    from model_zoo.engine import checkpoint as ckpt_io

    pre = dict(loaded.meta.get("preprocess") or ckpt_io.preprocess_meta(cfg))
    if interpolation:
        pre["interpolation"] = interpolation
    if crop_pct:
        pre["crop_pct"], pre["resize_ratio"] = float(crop_pct), resize_ratio(pre["image_size"][0], float(crop_pct))
    return pre


def _registered(name):
    from model_zoo.engine.registry import model_spec

    try:
        return model_spec(name).name
    except ZooError:
        return None


def convert(src, dst, arch=None, num_classes=None, class_file=None, interpolation=None, crop_pct=None,
            allow_pickle=False, log=print, timm_config=None, to="zoo"):
    """Convert the weights ``src`` into the checkpoint ``dst``; returns dict(dst, arch, num_classes, tensors,
    preprocess, timm_config, layout).  Raises :class:`CheckpointError` (one line) when the file does not fit."""
    from mindspore.nn.utils import no_init_parameters

    from model_zoo.engine import weights
    from model_zoo.engine.cli import config_builder
    from model_zoo.engine.registry import get_recipe, model_spec

    src, dst = Path(src), Path(dst)
    wanted = model_spec(arch) if arch else None  # an unknown --arch is an error before the file is read
    if not src.is_file():
        raise CheckpointError(f"source weights {src} not found; pass an existing .pth/.safetensors/.ckpt to --src")
    loaded = weights.load(src, allow_pickle=allow_pickle, log=log)
    recipe = get_recipe(loaded.maps.recipe)
    if wanted is not None and wanted.recipe != recipe.name:
        found = loaded.options.get("arch", recipe.name)
        raise CheckpointError(f"{src.name} holds {loaded.title} weights of {found} (the {recipe.name} recipe), not "
                              f"--arch {wanted.name}: pass --arch {found} or leave it out")
    argv = [f"--config_path={loaded.maps.default_config(loaded.options)}"] if loaded.maps.default_config else []
    argv += ([f"--arch={wanted.name}"] if wanted else []) + ([f"--num_classes={num_classes}"] if num_classes else [])
    build = config_builder(recipe, "eval", argv)
    cfg = weights.configure(recipe, build(), "eval", build, weights=loaded, log=log)
    with no_init_parameters():  # names and shapes are what count: skip the initialisation
        net = recipe.network(cfg, "test")
    weights.verify(net, loaded, cfg, what="")
    classes_given = int(cfg.num_classes)
    spec = model_spec(cfg.arch or recipe.name)
    timm_cfg, config_path = {}, None
    if loaded.layout.frameworks == ("torch",):
        preprocess, timm_cfg, config_path = _timm_preprocess(loaded, spec, src, interpolation, crop_pct, timm_config,
                                                             log)
    else:
        preprocess = _recipe_preprocess(loaded, cfg, interpolation, crop_pct)
    classes = read_classes(class_file, classes_given, timm_cfg.get("label_names") or loaded.meta.get("classes"))
    source = {"file": src.name, "converter": "model_zoo.convert", "layout": loaded.layout.name}
    meta = weights.checkpoint_metadata(recipe.name, cfg, classes, preprocess, source)
    order = [p.name for p in net.get_parameters()]
    weights.save(loaded, dst, layout=to, order=order, append_dict=meta)
    size = preprocess["image_size"]
    log(f"converted {src.name} -> {dst}: {cfg.arch or recipe.name} ({loaded.title} layout -> {to}), {classes_given} "
        f"classes, {len(order)} tensors; preprocess {size[0]}x{size[1]} (resize {round(size[0] / preprocess['resize_ratio'])},"
        f" {preprocess['interpolation']}, mean {tuple(preprocess['mean'])}, std {tuple(preprocess['std'])})")
    return {"dst": str(dst), "arch": cfg.arch or recipe.name, "num_classes": classes_given, "tensors": len(order),
            "preprocess": preprocess, "timm_config": str(config_path) if config_path else None,
            "layout": loaded.layout.name}


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m model_zoo.convert",
        description="Convert weights (zoo/upstream .ckpt, torchvision/timm .pth or .safetensors) into a zoo "
                    "checkpoint that records the network and preprocessing they need.")
    parser.add_argument("--src", required=True, help="source weights: .ckpt, .pth/.pt/.bin (needs PyTorch), .safetensors")
    parser.add_argument("--dst", required=True, help="output MindSpore checkpoint (.ckpt)")
    parser.add_argument("--arch", default=None,
                        help="check the file holds this architecture (default: recognised from the file)")
    parser.add_argument("--num_classes", type=int, default=None, help="check the classifier outputs (default: from "
                                                                       "the file)")
    parser.add_argument("--to", choices=("zoo", "upstream"), default="zoo",
                        help="names of the output: the zoo's (with its metadata), or upstream ModelZoo's")
    parser.add_argument("--class_file", default=None,
                        help="class names, one per line (default: a timm config.json's label_names, else the "
                             "ImageNet-1k synsets for 1000 classes, else '0'..'N-1')")
    parser.add_argument("--timm_config", default=None,
                        help="timm config.json whose pretrained_cfg gives the preprocessing (default: config.json "
                             "beside --src when there is one, as in a Hugging Face hub download; 'none' = ignore)")
    parser.add_argument("--interpolation", choices=INTERPOLATIONS, default=None,
                        help="eval resize interpolation the weights expect (default: the timm config.json's, else "
                             "the arch's timm/torchvision value; some timm weights use bicubic)")
    parser.add_argument("--crop_pct", type=float, default=None,
                        help="eval centre-crop fraction (default: the timm config.json's, else 0.875)")
    parser.add_argument("--allow_pickle", action="store_true",
                        help="load .pth files holding Python objects besides tensors (only for trusted files)")
    parser.add_argument("--debug", action="store_true", help="full tracebacks")
    args = parser.parse_args(argv)
    try:
        convert(args.src, args.dst, arch=args.arch, num_classes=args.num_classes, class_file=args.class_file,
                interpolation=args.interpolation, crop_pct=args.crop_pct, allow_pickle=args.allow_pickle,
                timm_config=args.timm_config, to=args.to)
        return 0
    except ZooError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
