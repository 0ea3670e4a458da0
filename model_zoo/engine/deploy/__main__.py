"""``python -m model_zoo.engine.deploy COMMAND --model NAME [--key=value ...]`` (see the package docstring)."""
import sys

import model_zoo  # noqa: F401  (fast CPU settings before MindSpore loads)
from model_zoo.engine.deploy.cli import module_main

sys.exit(module_main())
