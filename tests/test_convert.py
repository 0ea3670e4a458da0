"""timm / torchvision weights -> zoo checkpoints: our networks are the reference networks (same logits), mismatched
files are refused in one line, eval.py evaluates converted weights with the preprocessing they expect, and the
model READMEs' convert and export commands give the PyTorch logits."""
import csv
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, run_script, zoo_env

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
timm = pytest.importorskip("timm")
safetensors_torch = pytest.importorskip("safetensors.torch")

import upstream_nets  # noqa: E402
from model_zoo.convert import convert  # noqa: E402
from model_zoo.engine import checkpoint as ckpt_io  # noqa: E402

TOLERANCE = 1e-4
TORCHVISION_VGG = ["vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"]


def randomize(model, seed=0):
    """Random BN affine parameters and running statistics and random biases (torch inits them to constants), so
    that every converted tensor matters; eval mode."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.weight.uniform_(0.5, 1.5, generator=gen)
                module.running_mean.normal_(0.0, 0.1, generator=gen)
                module.running_var.uniform_(0.5, 1.5, generator=gen)
            bias = getattr(module, "bias", None)
            if isinstance(bias, torch.nn.Parameter):
                bias.normal_(0.0, 0.05, generator=gen)
    return model.eval()


def save_source(model, path, wrap=None):
    state = model.state_dict()
    if path.suffix == ".safetensors":
        safetensors_torch.save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save(wrap(state) if wrap else state, str(path))
    return path


def our_network(dst):
    """The network eval.py builds for a converted checkpoint: everything it needs is recorded in the file."""
    from model_zoo.engine import weights
    from model_zoo.engine.cli import resolve

    recipe = ckpt_io.metadata(dst)["recipe"]
    recipe, cfg = resolve("eval", recipe, [f"--pre_trained={dst}"])
    net = weights.network(recipe, cfg, "test", dst, log=None)
    net.set_train(False)
    return net


def scaled(model, images):
    """Scale the last (linear) layer so that the logits on ``images`` are ~10 (a sharp 1e-4 check); the logits."""
    with torch.no_grad():
        last = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
        scale = 10.0 / float(model(torch.from_numpy(images)).abs().max())
        last.weight.mul_(scale)
        last.bias.mul_(scale)
        return model(torch.from_numpy(images)).numpy()


def logits_check(tmp_path, model, arch, size, batch=1, suffix=".pth", wrap=None, seed=0):
    """Save random reference weights, convert, load into ours; max abs logit difference on one random batch."""
    import mindspore as ms

    randomize(model, seed)
    images = np.random.default_rng(seed).standard_normal((batch, 3, size, size)).astype(np.float32)
    reference = scaled(model, images)
    src = save_source(model, tmp_path / f"{arch}{suffix}", wrap)
    dst = tmp_path / f"{arch}.ckpt"
    convert(src, dst, arch=arch, log=lambda *_: None)
    src.unlink()
    net = our_network(dst)
    ours = net(ms.Tensor(images)).asnumpy()
    dst.unlink()
    diff = float(np.abs(ours - reference).max())
    print(f"LOGITS {arch} {suffix} input {batch}x3x{size}x{size}: max abs diff {diff:.3g}, "
          f"max |logit| {float(np.abs(reference).max()):.3g}")
    assert ours.shape == reference.shape
    assert diff < TOLERANCE, f"{arch}: max abs diff {diff}"
    return diff


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)  # the reference models' own initialisation: the same weights on every run


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["vgg11", "vgg13_bn", "vgg19_bn"])
def test_torchvision_vgg_same_logits(arch, tmp_path):
    wrap = {"vgg11": lambda s: {"state_dict": {f"module.{k}": v for k, v in s.items()}},
            "vgg13_bn": lambda s: {"model": s}}.get(arch)
    logits_check(tmp_path, getattr(torchvision.models, arch)(), arch, 224, wrap=wrap)


@pytest.mark.parametrize("arch", TORCHVISION_VGG + ["densenet121", "densenet161", "densenet169", "densenet201"])
def test_every_torchvision_file_tells_its_network(arch):
    """The names and shapes of each torchvision model (built on torch's meta device: no memory, no time) recognise
    the torchvision layout and give the arch, classes and VGG input size."""
    from model_zoo.engine import weights

    with torch.device("meta"):
        state = getattr(torchvision.models, arch)(num_classes=17).state_dict()
    state = weights.mindspore_bn_names({k: v for k, v in state.items() if not k.endswith("num_batches_tracked")})
    maps, layout = weights.recognise(state, "torch")
    assert layout.name == "torchvision"
    options, _ = maps.describe({layout.to_zoo(k): tuple(v.shape) for k, v in state.items()})
    assert options["arch"] == arch and options["num_classes"] == 17
    if arch.startswith("vgg"):
        assert options["has_bias"] is True and options["image_size"] == "224,224"
    else:
        assert layout.numerics(options) == {"transition_pool": "avg", "stem_pool": "symmetric"}


def test_timm_vgg_pre_logits_layout_same_logits(tmp_path):
    model = timm.create_model("vgg11", pretrained=False)
    assert "pre_logits.fc1.weight" in model.state_dict()  # the conv head timm uses
    logits_check(tmp_path, model, "vgg11", 224, suffix=".safetensors")


@pytest.mark.slow
def test_torchvision_densenet121_same_logits(tmp_path):
    logits_check(tmp_path, torchvision.models.densenet121(), "densenet121", 64, batch=2)


def test_torchvision_densenet121_old_style_keys(tmp_path):
    """Pre-0.3 torchvision checkpoints name layers 'norm.1' / 'conv.2' (torchvision remaps them with a regex)."""
    def old_style(state):
        out = {re.sub(r"(denselayer\d+\.(?:norm|conv))([12])\.", r"\1.\2.", k): v for k, v in state.items()}
        assert any(".norm.1." in k for k in out)
        return out

    logits_check(tmp_path, torchvision.models.densenet121(), "densenet121", 64, batch=2, wrap=old_style, seed=1)


def test_torchvision_densenet169_same_logits(tmp_path):
    logits_check(tmp_path, torchvision.models.densenet169(), "densenet169", 64, batch=2, suffix=".safetensors")


def test_timm_inception_v4_pth_metadata(tmp_path):
    """.pth in a DataParallel wrapper; the checkpoint records what eval needs (reference head, 299 bicubic...)."""
    model = randomize(timm.create_model("inception_v4", pretrained=False, num_classes=7))
    src = save_source(model, tmp_path / "inc.pth", wrap=lambda s: {"state_dict": {f"module.{k}": v for k, v in
                                                                                  s.items()}, "epoch": 3})
    lines = []
    result = convert(src, tmp_path / "inc.ckpt", arch="inception_v4", log=lines.append)
    assert result["num_classes"] == 7
    assert any(re.search(r"using the settings implied by inc.pth: .*head=reference.*bn_eps=0.001", line)
               for line in lines), lines
    assert any("left out 149 optimizer/bookkeeping entries: *.num_batches_tracked (149)" in line for line in lines)
    meta = ckpt_io.metadata(tmp_path / "inc.ckpt")
    assert meta["arch"] == "inception_v4" and meta["recipe"] == "inceptionv4" and meta["head"] == "reference"
    assert meta["bn_eps"] == 1e-3 and meta["bn_momentum"] == 0.9  # timm's numerics travel with its weights
    assert meta["classes"] == [str(i) for i in range(7)]
    pre = meta["preprocess"]
    assert pre["image_size"] == [299, 299] and pre["interpolation"] == "bicubic" and pre["keep_aspect"] is True
    assert pre["mean"] == [0.5, 0.5, 0.5] and pre["std"] == [0.5, 0.5, 0.5] and pre["crop_pct"] == 0.875
    assert round(299 / pre["resize_ratio"]) == 341  # timm: floor(299 / 0.875)


# ---------------------------------------------------------------------------------------------------------------
# refusals: one line, exit code 2, naming the problem
# ---------------------------------------------------------------------------------------------------------------

def run_convert(*args, block_torch=False, cwd=ROOT):
    """``python -m model_zoo.convert ARGS`` (optionally with PyTorch made unimportable)."""
    code = "import sys; from model_zoo.convert import main; sys.exit(main(sys.argv[1:]))"
    if block_torch:
        code = "import sys; sys.modules['torch'] = None; " + code
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          env=zoo_env(), cwd=cwd, timeout=600)


def assert_one_line_error(result, *needles):
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def densenet121_files(scratch):
    folder = scratch("dn_src")
    model = randomize(torchvision.models.densenet121())
    full = save_source(model, folder / "densenet121.pth")
    state = model.state_dict()
    for key in ("features.norm5.weight", "features.norm5.running_var", "classifier.bias"):
        del state[key]
    torch.save(state, folder / "truncated.pth")
    save_source(model, folder / "densenet121.safetensors")
    return full, folder / "truncated.pth", folder / "densenet121.safetensors"


def test_wrong_arch_is_refused_naming_the_right_arch(densenet121_files, tmp_path):
    full, _, _ = densenet121_files
    result = run_convert("--arch", "densenet169", "--src", full, "--dst", tmp_path / "x.ckpt")
    line = assert_one_line_error(result, "densenet121.pth holds a densenet121 network (dense blocks of 6/12/24/16 "
                                         "layers), but --arch=densenet169 was given: pass --arch=densenet121 or leave "
                                         "it out")
    assert not (tmp_path / "x.ckpt").exists(), line
    result = run_convert("--arch", "vgg16", "--src", full, "--dst", tmp_path / "x.ckpt")
    assert_one_line_error(result, "holds torchvision/timm weights of densenet121 (the densenet121 recipe), not --arch "
                                  "vgg16: pass --arch densenet121")


def test_missing_keys_are_refused(densenet121_files, tmp_path):
    _, truncated, _ = densenet121_files
    result = run_convert("--arch", "densenet121", "--src", truncated, "--dst", tmp_path / "x.ckpt")
    assert_one_line_error(result, "missing 3 key(s)", "features.norm5.gamma", "classifier.bias", "truncated or edited")


def test_num_classes_mismatch_is_refused(densenet121_files, tmp_path):
    full, _, _ = densenet121_files
    result = run_convert("--arch", "densenet121", "--src", full, "--dst", tmp_path / "x.ckpt", "--num_classes", "10")
    assert_one_line_error(result, "has 1000 classes (classifier is 1000x1024), but --num_classes=10 was given: pass "
                                  "--num_classes=1000 or leave it out")


def test_safetensors_needs_no_torch_and_pth_says_torch_is_needed(densenet121_files, tmp_path):
    full, _, safetensors_file = densenet121_files
    result = run_convert("--arch", "densenet121", "--src", safetensors_file, "--dst", tmp_path / "s.ckpt",
                         block_torch=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "converted densenet121.safetensors" in result.stdout, result.stdout
    assert re.search(r"using the settings implied by densenet121.safetensors: .*transition_pool=avg, "
                     r"stem_pool=symmetric", result.stdout), result.stdout
    assert (tmp_path / "s.ckpt").is_file()
    result = run_convert("--arch", "densenet121", "--src", full, "--dst", tmp_path / "p.ckpt", block_torch=True)
    assert_one_line_error(result, "needs PyTorch", ".safetensors")


def test_unknown_arch_and_missing_file(tmp_path):
    assert_one_line_error(run_convert("--arch", "densenet12", "--src", tmp_path / "a.pth", "--dst", tmp_path / "b"),
                          "unknown architecture 'densenet12'")
    assert_one_line_error(run_convert("--arch", "densenet121", "--src", tmp_path / "a.pth", "--dst", tmp_path / "b"),
                          "not found")


# ---------------------------------------------------------------------------------------------------------------
# eval.py on converted weights picks arch, network options and preprocessing from the checkpoint
# ---------------------------------------------------------------------------------------------------------------

def test_checkpoint_settings_yield_to_the_command_line():
    from model_zoo.engine.cli import resolve
    from model_zoo.engine.weights_meta import apply_meta

    meta = {"arch": "inception_v4", "recipe": "inceptionv4", "classes": ["a", "b"], "head": "reference",
            "preprocess": {"dataset": "imagenet2012", "image_size": [299, 299], "resize_ratio": 0.8768,
                           "keep_aspect": True, "interpolation": "bicubic", "mean": [0.5, 0.5, 0.5],
                           "std": [0.5, 0.5, 0.5]}}
    _, cfg = resolve("eval", "inceptionv4", ["--config_path=default_config_cpu.yaml", "--head=upstream",
                                             "--width=75", "--height=75"])
    changes = apply_meta(cfg, meta, "inceptionv4", network_keys=("head",))
    assert cfg.head == "upstream" and cfg.image_size == "75,75"  # given on the command line
    assert cfg.num_classes == 2 and cfg.eval_interpolation == "bicubic" and cfg.eval_mean == "0.5,0.5,0.5"
    assert cfg.eval_resize_ratio == 0.8768 and "head" not in changes
    from model_zoo.engine.errors import CheckpointError

    with pytest.raises(CheckpointError, match="use the scripts of model_zoo/inceptionv4/"):
        apply_meta(cfg, meta, "vgg19")


def reference_images(folder):
    """The val images through torchvision's reference eval transform for densenet121 (short side 256, centre crop
    224, bilinear, ImageNet mean/std), and their labels (class = sorted folder order)."""
    from PIL import Image
    from torchvision import transforms as T

    transform = T.Compose([T.Resize(256, interpolation=T.InterpolationMode.BILINEAR), T.CenterCrop(224),
                           T.ToTensor(), T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
    classes = sorted(p.name for p in (folder / "val").iterdir() if p.is_dir())
    images, labels = [], []
    for label, name in enumerate(classes):
        for path in sorted((folder / "val" / name).iterdir()):
            images.append(transform(Image.open(path).convert("RGB")))
            labels.append(label)
    return torch.stack(images), np.array(labels), len(classes)


@pytest.mark.slow
def test_eval_py_on_converted_densenet121(tiny_folder, tmp_path):
    model = randomize(torchvision.models.densenet121(num_classes=3), seed=3)
    images, labels, num_classes = reference_images(Path(tiny_folder))
    with torch.no_grad():  # centre the classifier on these images' features: predictions follow the image content
        features = torch.nn.functional.adaptive_avg_pool2d(torch.relu(model.features(images)), 1).flatten(1)
        model.classifier.weight.mul_(100.0)
        model.classifier.bias.copy_(-model.classifier.weight @ features.mean(0))
        logits = model(images).numpy()
    predicted = logits.argmax(axis=1)
    ranked = np.sort(logits, axis=1)
    margin = float((ranked[:, -1] - ranked[:, -2]).min())
    print(f"reference predictions {predicted.tolist()}, smallest top-1 margin {margin:.3g} "
          f"(max |logit| {float(np.abs(logits).max()):.3g})")
    assert len(set(predicted.tolist())) > 1, "the reference net should not predict one class for all images"
    convert(save_source(model, tmp_path / "dn.pth"), tmp_path / "dn.ckpt", arch="densenet121", log=lambda *_: None)
    folder = ROOT / "model_zoo" / "densenet121"
    result = run_script(folder / "eval.py", f"--eval_data_dir={tiny_folder}", f"--ckpt_files={tmp_path / 'dn.ckpt'}",
                        f"--log_path={tmp_path / 'log'}", "--device_target=CPU", "--eval_per_class=True", cwd=folder)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert re.search(r"using the settings recorded in dn\.ckpt: .*num_classes=3.*transition_pool=avg", out), out
    assert "eval_keep_aspect=True" in out
    match = re.search(r"after allreduce eval: top1_correct=(\d+), tot=(\d+), acc=[\d.]+%", out)
    assert match and match.group(2) == "9", out[-2000:]
    assert int(match.group(1)) == int((predicted == labels).sum()), (predicted, labels)
    # the whole prediction table, not only the count, is the reference model's
    expected = np.zeros((num_classes, num_classes), dtype=int)
    np.add.at(expected, (labels, predicted), 1)
    matrix_file = next(Path(tmp_path / "log").rglob("confusion_matrix.csv"))
    with open(matrix_file, encoding="utf-8") as handle:
        rows = list(csv.reader(handle))[1:]
    assert np.array_equal(np.array([[int(v) for v in row[1:]] for row in rows]), expected), rows


# ---------------------------------------------------------------------------------------------------------------
# issue 6: what travels with converted weights - ImageNet class names, a timm config.json's preprocessing
# ---------------------------------------------------------------------------------------------------------------

def test_predict_shows_imagenet_names_for_converted_1000_class_weights(tmp_path):
    """Converted without --class_file, 1000-class weights record the ImageNet-1k synsets; predict.py shows their
    human names (not '0'..'999'), and checkpoints converted earlier with '0'..'999' get the names too."""
    import json

    from PIL import Image

    from model_zoo.engine.deploy import labels

    model = randomize(torchvision.models.densenet121(), seed=4)
    dst = tmp_path / "dn.ckpt"
    convert(save_source(model, tmp_path / "dn.safetensors"), dst, arch="densenet121", log=lambda *_: None)
    meta = ckpt_io.metadata(dst)
    assert meta["classes"] == labels.imagenet_synsets()
    imagenet = labels.imagenet_names()
    assert labels.class_names(1000, meta) == (imagenet, "checkpoint (ImageNet synsets)")
    assert labels.class_names(1000, {"classes": [str(i) for i in range(1000)]}) == (imagenet, "ImageNet-1k")
    assert labels.class_names(10, {"classes": [str(i) for i in range(10)]})[0][3] == "3"  # a 10-folder dataset
    image = tmp_path / "probe.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (70, 90, 3), dtype=np.uint8)).save(image)
    result = run_script(ROOT / "model_zoo" / "densenet121" / "predict.py", f"--ckpt_file={dst}", image,
                        f"--output_json={tmp_path / 'top.json'}", "--device_target=CPU", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "class names from checkpoint (ImageNet synsets)" in result.stdout, result.stdout[-2000:]
    top = json.loads((tmp_path / "top.json").read_text())[0]["top"]
    assert len(top) == 5 and [e["label"] for e in top] == [imagenet[e["class_index"]] for e in top]
    assert not any(e["label"].strip().isdigit() for e in top)


def write_timm_config(path, architecture="densenet121", num_classes=1000, **pretrained):
    """A config.json as timm's save_for_hf / the Hugging Face hub writes it."""
    import json

    pretrained_cfg = {"tag": "ra_in1k", "custom_load": False, "input_size": [3, 224, 224],
                      "test_input_size": [3, 288, 288], "fixed_input_size": False, "interpolation": "bicubic",
                      "crop_pct": 0.875, "test_crop_pct": 0.95, "crop_mode": "center",
                      "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "num_classes": num_classes,
                      "pool_size": [7, 7], "first_conv": "features.conv0", "classifier": "classifier"}
    pretrained_cfg.update(pretrained)
    config = {"architecture": architecture, "num_classes": num_classes, "num_features": 1024, "global_pool": "avg",
              "pretrained_cfg": pretrained_cfg}
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return path


def test_timm_config_json_beside_safetensors_gives_the_preprocessing(tmp_path):
    """timm's densenet121.ra_in1k weights expect bicubic: a config.json beside model.safetensors (the hub layout)
    is read, its pretrained_cfg recorded in the checkpoint; flags override it; --timm_config none ignores it."""
    hub = tmp_path / "hub"
    hub.mkdir()
    model = randomize(timm.create_model("densenet121", pretrained=False, num_classes=3), seed=5)
    src = save_source(model, hub / "model.safetensors")
    mean, std = [0.5, 0.45, 0.4], [0.2, 0.25, 0.3]
    write_timm_config(hub / "config.json", num_classes=3, input_size=[3, 256, 256], crop_pct=0.95, mean=mean,
                      std=std, label_names=["cat", "dog", "eel"])
    lines = []
    result = convert(src, tmp_path / "a.ckpt", arch="densenet121", log=lines.append)
    assert result["timm_config"] == str(hub / "config.json")
    assert any("preprocessing from" in line and "config.json" in line for line in lines), lines
    meta = ckpt_io.metadata(tmp_path / "a.ckpt")
    pre = meta["preprocess"]
    assert pre["interpolation"] == "bicubic" and pre["image_size"] == [256, 256] and pre["crop_pct"] == 0.95
    assert pre["mean"] == mean and pre["std"] == std
    assert round(256 / pre["resize_ratio"]) == 269  # timm: floor(256 / 0.95)
    assert meta["classes"] == ["cat", "dog", "eel"]

    # eval.py / predict.py settings follow: the checkpoint's preprocessing reaches the resolved config
    from model_zoo.engine.cli import resolve
    from model_zoo.engine.weights_meta import apply_meta

    _, cfg = resolve("eval", "densenet121", ["--device_target=CPU"])
    changes = apply_meta(cfg, meta, "densenet121")
    assert changes["eval_interpolation"] == "bicubic" and cfg.image_size == "256,256"

    # flags win over the config; without a config the arch's torchvision defaults (bilinear, 224, crop 0.875)
    convert(src, tmp_path / "b.ckpt", arch="densenet121", interpolation="bilinear", crop_pct=0.875, log=lambda *_: None)
    pre = ckpt_io.metadata(tmp_path / "b.ckpt")["preprocess"]
    assert pre["interpolation"] == "bilinear" and pre["crop_pct"] == 0.875 and pre["image_size"] == [256, 256]
    convert(src, tmp_path / "c.ckpt", arch="densenet121", timm_config="none", log=lambda *_: None)
    meta = ckpt_io.metadata(tmp_path / "c.ckpt")
    assert meta["preprocess"]["interpolation"] == "bilinear" and meta["preprocess"]["image_size"] == [224, 224]
    assert meta["classes"] == ["0", "1", "2"]


def test_a_config_json_that_is_not_timm_s(tmp_path):
    """Beside the weights an unrelated config.json is ignored (with a note); named with --timm_config it is an
    error in one line."""
    import json

    folder = tmp_path / "w"
    folder.mkdir()
    model = randomize(torchvision.models.densenet121(num_classes=2), seed=6)
    src = save_source(model, folder / "model.safetensors")
    (folder / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 8}))
    lines = []
    result = convert(src, tmp_path / "x.ckpt", arch="densenet121", log=lines.append)
    assert result["timm_config"] is None and any("ignoring" in line for line in lines), lines
    assert ckpt_io.metadata(tmp_path / "x.ckpt")["preprocess"]["interpolation"] == "bilinear"
    broken = write_timm_config(tmp_path / "bad.json", num_classes=2, interpolation="lanczos")
    assert_one_line_error(run_convert("--arch", "densenet121", "--src", src, "--dst", tmp_path / "y.ckpt",
                                      "--timm_config", broken), "interpolation 'lanczos' is not supported")
    assert not (tmp_path / "y.ckpt").exists()


# ---------------------------------------------------------------------------------------------------------------
# the model READMEs' "Bringing your weights": convert torchvision / timm files, then export with no network flag
# ---------------------------------------------------------------------------------------------------------------

README_SOURCES = {  # a README's file name -> the PyTorch model such a file holds
    "vgg11_bn-6002323d.pth": lambda: torchvision.models.vgg11_bn(),
    "densenet121-a639ec97.pth": lambda: torchvision.models.densenet121(),
}
README_TIMM = {"vgg19": "vgg11", "densenet121": "densenet121", "inceptionv4": "inception_v4"}  # model.safetensors


def flag(argv, name):
    return next(a.split("=", 1)[1] if "=" in a else argv[argv.index(a) + 1] for a in argv
                if a == name or a.startswith(name + "="))


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["vgg19", "densenet121", "inceptionv4"])
def test_readme_convert_then_export_give_the_pytorch_logits(recipe, tmp_path):
    """Every convert command of the README, run on the file it names; then the README's export command on what they
    wrote: the ONNX file gives the PyTorch model's logits within 1e-4."""
    import onnxruntime as ort

    commands = upstream_nets.readme_commands(recipe)
    converts = [argv for argv in commands if argv[:2] == ["-m", "model_zoo.convert"]]
    export = next(argv for argv in commands if argv[0] == "export.py")
    assert converts and all(a.startswith("--") for a in export[1:])
    size = {"vgg19": 224, "densenet121": 224, "inceptionv4": 299}[recipe]  # what the weights were made for
    images = np.random.default_rng(7).standard_normal((1, 3, size, size)).astype(np.float32)
    models = {}
    for argv in converts:
        src, dst = flag(argv, "--src"), flag(argv, "--dst")
        model = randomize(README_SOURCES[src]() if src in README_SOURCES else
                          timm.create_model(README_TIMM[recipe], pretrained=False), seed=len(models))
        models[dst] = scaled(model, images)
        save_source(model, tmp_path / src)
        result = run_convert(*argv[2:], cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]
        assert f"converted {src} -> {dst}" in result.stdout
        (tmp_path / src).unlink()
    result = run_script(ROOT / "model_zoo" / recipe / "export.py", *export[1:], "--device_target=CPU", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    match = re.search(r"exported (\S+) \(ONNX, input 1x3x(\d+)x(\d+)\); max abs diff vs network", result.stdout)
    assert match, result.stdout[-2000:]
    assert int(match.group(2)) == int(match.group(3)) == size
    reference = models[flag(export, "--ckpt_file")]
    exported = Path(tmp_path / match.group(1))
    session = ort.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: images})[0]
    diff = float(np.abs(got - reference).max())
    print(f"{recipe}: README export of {flag(export, '--ckpt_file')}: ONNX vs PyTorch max abs diff {diff:.3g} "
          f"(max |logit| {float(np.abs(reference).max()):.3g})")
    assert diff < TOLERANCE
