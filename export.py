"""Export any zoo model: ``python export.py --model vgg19 --arch vgg16_bn --ckpt_file X.ckpt --file_format ONNX``.

``--model`` picks the recipe (vgg19, densenet121, inceptionv4); every other flag is that recipe's export flag.
"""
import sys

import model_zoo  # noqa: F401  (fast CPU settings before MindSpore loads)
from model_zoo.engine.cli import main


def split_model(argv):
    """Remove ``--model NAME`` / ``--model=NAME`` from argv; returns (name, rest)."""
    rest, name, skip = [], None, False
    for i, token in enumerate(argv):
        if skip:
            skip = False
            continue
        if token == "--model" and i + 1 < len(argv):
            name, skip = argv[i + 1], True
        elif token.startswith("--model="):
            name = token.split("=", 1)[1]
        else:
            rest.append(token)
    return name, rest


if __name__ == "__main__":
    model, args = split_model(sys.argv[1:])
    if not model:
        from model_zoo.engine.registry import list_recipes

        print(f"usage: python export.py --model {{{','.join(list_recipes())}}} --ckpt_file FILE "
              f"[--file_format MINDIR|ONNX|AIR] [--batch_size N] [...]", file=sys.stderr)
        sys.exit(2)
    sys.exit(main("export", model, args))
