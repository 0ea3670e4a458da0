"""The upstream public names of each recipe's ``src/`` and ``mindspore_hub_conf.py`` import and build, run as a user's
script from the model folder (``cd model_zoo/vgg19 && python my_script.py`` with ``from src.vgg import vgg19``)."""
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT

COMMON = """
import math
import numpy as np
import mindspore as ms
from types import SimpleNamespace
from mindspore.common.initializer import initializer
ms.set_context(mode=ms.PYNATIVE_MODE)

def shape(net, size, batch=2):
    net.set_train(False)
    x = np.random.default_rng(0).standard_normal((batch, 3, size, size)).astype(np.float32)
    return tuple(net(ms.Tensor(x)).shape)

def ce(loss, classes):
    logits = np.random.default_rng(1).standard_normal((4, classes)).astype(np.float32)
    labels = np.array([0, 1, 2, 1], np.int32)
    got = float(loss(ms.Tensor(logits), ms.Tensor(labels)).asnumpy())
    p = np.exp(logits - logits.max(1, keepdims=True)); p /= p.sum(1, keepdims=True)
    eps = 0.1
    target = np.full_like(p, eps / (classes - 1)); target[np.arange(4), labels] = 1 - eps
    return abs(got - float(-(target * np.log(p)).sum(1).mean()))

def kaiming_std(init_cls):
    w = initializer(init_cls(a=math.sqrt(5), mode="fan_out", nonlinearity="relu"), (256, 64, 3, 3),
                    ms.float32)
    return float(w.init_data().asnumpy().std()) / math.sqrt(2.0 / (256 * 9))

def first_batch(dataset):
    images, labels = next(dataset.create_tuple_iterator(output_numpy=True, num_epochs=1))
    return images.shape, labels.dtype.name
"""

SNIPPETS = {
    "vgg19": """
from src.vgg import vgg19, Vgg, cfg
from src.dataset import vgg_create_dataset, classification_dataset
from src.crossentropy import CrossEntropy
from src.lr_schedule import linear_warmup_lr, warmup_step_lr, warmup_cosine_annealing_lr
from src.var_init import KaimingNormal, default_recurisive_init
import mindspore_hub_conf
args = SimpleNamespace(batch_norm=False, has_bias=False, pad_mode="pad", padding=1, has_dropout=True,
                       initialize_mode="KaimingNormal", image_size="32,32")
print("vgg19", shape(vgg19(10, args, phase="test"), 32))
print("vgg19_bn", sum(1 for _, c in vgg19(10, SimpleNamespace(batch_norm=True, image_size="32,32")).cells_and_names()
                       if isinstance(c, ms.nn.BatchNorm2d)))
print("trunk", shape(Vgg(cfg["11"], args=args, include_top=False), 32))
print("ce", ce(CrossEntropy(smooth_factor=0.1, num_classes=10), 10) < 1e-5)
print("warmup", linear_warmup_lr(3, 10, 0.1, 0.0))
print("step", list(np.round(warmup_step_lr(0.1, "1,2", 2, 0, 3), 6)))
print("cosine", list(np.round(warmup_cosine_annealing_lr(0.04, 2, 0, 3, 3), 6)))
print("kaiming", round(kaiming_std(KaimingNormal), 1))
default_recurisive_init(vgg19(10, args))
print("cifar", first_batch(vgg_create_dataset(CIFAR, "32,32", 4)))
print("folder", first_batch(classification_dataset(FOLDER, "32,32", 4)))
print("hub", type(mindspore_hub_conf.create_network("vgg19", num_classes=10)).__name__)
""",
    "densenet121": """
from src.densenet import DenseNet121, DenseNet100
from src.dataset import classification_dataset
from src.crossentropy import CrossEntropy
from src.var_init import KaimingNormal, default_recurisive_init
import mindspore_hub_conf
print("densenet121", shape(DenseNet121(10), 32))
print("trunk", shape(DenseNet100(include_top=False), 32))
print("ce", ce(CrossEntropy(smooth_factor=0.1, num_classes=10), 10) < 1e-5)
print("kaiming", round(kaiming_std(KaimingNormal), 1))
print("folder", first_batch(classification_dataset(FOLDER, "32,32", 4, 1)))
print("hub", type(mindspore_hub_conf.create_network("densenet100")).__name__)
""",
    "inceptionv4": """
from src.inceptionv4 import Inceptionv4
from src.dataset import create_dataset_imagenet
from src.lr_generator import generate_cosine_lr
import mindspore_hub_conf
print("inceptionv4", shape(Inceptionv4(classes=3, is_train=False), 75))
lr = generate_cosine_lr(steps_per_epoch=10, total_epochs=2)
print("lr", len(lr), round(float(lr[0]), 6), round(float(lr[9]), 6), round(float(lr[-1]), 7))
print("folder", first_batch(create_dataset_imagenet(FOLDER, True, SimpleNamespace(batch_size=4, work_nums=1))))
print("hub", type(mindspore_hub_conf.create_network("inceptionv4", classes=3)).__name__)
""",
}

EXPECTED = {
    "vgg19": ["vgg19 (2, 10)", "vgg19_bn 16", "trunk (2, 512, 1, 1)", "ce True", "warmup 0.03",
              "step [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]", "cosine [0.04, 0.04, 0.03, 0.03, 0.01, 0.01]",
              "kaiming 1.0", "cifar ((4, 3, 32, 32), 'int32')", "folder ((4, 3, 32, 32), 'int32')", "hub Vgg"],
    "densenet121": ["densenet121 (2, 10)", "trunk (2, 342, 8, 8)", "ce True", "kaiming 1.0",
                    "folder ((4, 3, 32, 32), 'int32')", "hub DenseNet"],
    "inceptionv4": ["inceptionv4 (2, 3)", "lr 20 0.040036 0.4 0.0097926", "folder ((4, 3, 299, 299), 'int32')",
                    "hub InceptionV4"],
}


@pytest.mark.slow
@pytest.mark.parametrize("model", sorted(SNIPPETS))
def test_upstream_src_names_build_from_the_model_folder(model, tiny_folder, cifar_root, tmp_path):
    script = tmp_path / "user_script.py"
    script.write_text(COMMON + f"CIFAR = {str(cifar_root)!r}\nFOLDER = {str(tiny_folder / 'train')!r}\n"
                      + textwrap.dedent(SNIPPETS[model]))
    # a user's bare environment (not zoo_env): only the model folder on PYTHONPATH, as upstream scripts run
    result = subprocess.run([sys.executable, str(script)], cwd=ROOT / "model_zoo" / model, capture_output=True,
                            text=True, timeout=600, env={"PATH": "/usr/bin:/bin", "GLOG_v": "3", "HOME": str(tmp_path),
                                                         "PYTHONPATH": str(ROOT / "model_zoo" / model)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines() == EXPECTED[model], result.stdout
