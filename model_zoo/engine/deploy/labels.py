"""Class names for predictions: the checkpoint's class folders, a names file, or ImageNet-1k (shipped).

Class folders that are ImageNet synsets (``n01440764``: an ImageNet-trained or converted checkpoint) are shown by
their human names; a 1000-class checkpoint that records only the indices '0'..'999' gets the ImageNet-1k names.

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


def synset_names(names):
    """Human-readable names for a list of WordNet synsets (ImageNet class folders such as 'n01440764'), or None
    when some name is not an ImageNet-1k synset."""
    lemmas = dict(zip(imagenet_synsets(), imagenet_names()))
    if not names or not all(str(n) in lemmas for n in names):
        return None
    return [lemmas[str(n)] for n in names]


def _index_placeholders(names):
    """True for ['0', '1', ... 'N-1']: a checkpoint that knows no class names (older conversions stored these)."""
    return [str(n) for n in names] == [str(i) for i in range(len(names))]


def class_names(num_classes, meta=None, names_file=""):
    """(names, source) for ``num_classes`` outputs: --class_names file > checkpoint classes (ImageNet synsets shown by
    their names) > ImageNet-1k for 1000 outputs > indices.  A checkpoint whose classes are only the indices
    '0'..'999' gets the ImageNet-1k names."""
    classes = (meta or {}).get("classes")
    known = bool(classes) and len(classes) == num_classes
    if known and num_classes == IMAGENET_CLASSES and _index_placeholders(classes):
        known = False
    readable = synset_names(classes) if known and not names_file else None
    if names_file:
        names, source = read_names(names_file), str(names_file)
    elif readable:
        names, source = readable, "checkpoint (ImageNet synsets)"
    elif known:
        names, source = [str(n) for n in classes], "checkpoint"
    elif num_classes == IMAGENET_CLASSES:
        names, source = imagenet_names(), "ImageNet-1k"
    else:
        names, source = [str(i) for i in range(num_classes)], "class index"
    if len(names) != num_classes:
        raise ConfigError(f"{source} lists {len(names)} class names but the model has {num_classes} outputs")
    return names, source
