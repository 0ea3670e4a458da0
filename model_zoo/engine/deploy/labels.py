"""Class names for predictions: the checkpoint's class folders, a names file, or ImageNet-1k (shipped).

``model_zoo/data/imagenet_synsets.txt`` (class index -> WordNet synset, sorted as the ILSVRC2012 class folders)
and ``imagenet_synset_to_lemma.txt`` (synset -> human-readable name) come from timm's ``timm/data/_info/``
(Apache-2.0); see ``model_zoo/data/README.txt``.
"""
from pathlib import Path

from model_zoo.engine.errors import ConfigError

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
IMAGENET_CLASSES = 1000


def imagenet_synsets():
    return (DATA_DIR / "imagenet_synsets.txt").read_text(encoding="utf-8").split()


def imagenet_names():
    """The 1000 ImageNet-1k class names in class-index order (e.g. index 0 -> 'tench, Tinca tinca')."""
    lemmas = {}
    for line in (DATA_DIR / "imagenet_synset_to_lemma.txt").read_text(encoding="utf-8").splitlines():
        synset, _, lemma = line.partition("\t")
        lemmas[synset.strip()] = lemma.strip()
    return [lemmas.get(synset, synset) for synset in imagenet_synsets()]


def read_names(path):
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"class names file {path} not found; pass a file with one class name per line")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def class_names(num_classes, meta=None, names_file=""):
    """(names, source) for ``num_classes`` outputs: --class_names file > checkpoint classes > ImageNet-1k > indices."""
    if names_file:
        names, source = read_names(names_file), str(names_file)
    elif meta and meta.get("classes") and len(meta["classes"]) == num_classes:
        names, source = [str(n) for n in meta["classes"]], "checkpoint"
    elif num_classes == IMAGENET_CLASSES:
        names, source = imagenet_names(), "ImageNet-1k"
    else:
        names, source = [str(i) for i in range(num_classes)], "class index"
    if len(names) != num_classes:
        raise ConfigError(f"{source} lists {len(names)} class names but the model has {num_classes} outputs")
    return names, source
