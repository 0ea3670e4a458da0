"""Layered configuration, as the upstream ``model_utils/config.py`` but strict.

Precedence (lowest first): the shared ``default_config.yaml`` < the model's YAML (``--config_path``) < the
model YAML's ``device_overlay`` entry for the chosen device < command-line flags.  Each YAML may hold up to three
documents, as upstream: values, help strings, choices.  Every scalar key becomes a ``--key`` flag typed from its
YAML value (booleans accept True/False/1/0).  A recipe may declare *aliases* (upstream key -> engine key) so that
``--epoch_size`` and ``--max_epoch`` (two recipes' spellings) set the same value.  Unknown flags and keys are errors
that name the closest valid key.

An upstream key the zoo accepts but does not use says so in its help string: ``"ignored by this zoo: <what to use
instead>"``, narrowed by ``in train, eval`` (only those tasks ignore it) or ``when lr_scheduler is step`` (only then).
Setting it (on the command line, or in the user's own YAML to a value no shipped YAML gives) prints one ``WARNING``
line with that text (:func:`ignored_lines`), and the README flag tables (:mod:`model_zoo.engine.docs`) show the same
text.  A key this zoo once documented but never read is in :data:`RETIRED`: setting it is an error naming the flag to
use.
"""
import argparse
import difflib
import os
import re
from pathlib import Path

import yaml

from model_zoo.engine.errors import ConfigError, MissingKeyError

SHARED_DEFAULTS = Path(__file__).resolve().with_name("default_config.yaml")
OVERLAY_KEY = "device_overlay"
# "[what it is. ]ignored by this zoo[ (note)][ in TASK, TASK][ when KEY is VALUE, VALUE or VALUE]: what to use instead"
IGNORED_HELP = re.compile(r"(?:^|\. )ignored by this zoo(?: \([^)]*\))?(?: in (?P<tasks>[a-z, ]+?))?"
                          r"(?: when (?P<key>\w+) is (?P<values>[\w, ]+?))?: (?P<instead>.+)$")
# keys once in the zoo's flag tables that no code read: setting one is an error naming what to use
RETIRED = {"export_batch_size": "export.py reads --batch_size, as upstream (0 = dynamic batch, MINDIR/ONNX)"}
_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}


class Config(dict):
    """A dict with attribute access (``cfg.lr``); a missing attribute raises :class:`MissingKeyError` naming the key
    (a ConfigError and an AttributeError, so ``hasattr`` and ``getattr(cfg, key, default)`` work)."""

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise MissingKeyError(f"config has no key {key!r}{_suggest(key, self)}") from None

    def __setattr__(self, key, value):
        self[key] = value

    def flag(self, key):
        """How a user spells ``key`` on the command line for this recipe: '--checkpoint_path' or '--pre_trained'."""
        names = [alias for alias, canon in getattr(self, "aliases", {}).items() if canon == key]
        return " / ".join(f"--{name}" for name in names + [key])

    def to_yaml(self):
        return yaml.safe_dump(dict(self), sort_keys=True, default_flow_style=False)


def _suggest(word, choices):
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def read_yaml(path):
    """Return (values, helps, choices) of a 1-3 document YAML file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} not found; pass an existing YAML with --config_path")
    try:
        with open(path, encoding="utf-8") as handle:
            docs = [doc or {} for doc in yaml.safe_load_all(handle)]
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0]
        raise ConfigError(f"config file {path} is not valid YAML ({first}); fix the file") from None
    if not docs or len(docs) > 3 or not all(isinstance(doc, dict) for doc in docs):
        raise ConfigError(f"config file {path} must hold 1 to 3 YAML mappings (values, help, choices)")
    docs += [{}] * (3 - len(docs))
    return docs[0], docs[1], docs[2]


def parse_bool(text):
    if isinstance(text, bool):
        return text
    low = str(text).strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected True/False/1/0, got {text!r}")


def _caster(default):
    """The argparse type of a flag, from its YAML default."""
    if isinstance(default, bool):
        return parse_bool
    if isinstance(default, int):
        def to_int(text):
            if str(text).strip().lower() in ("true", "false"):  # 0/1 switches written as booleans (is_distributed)
                return int(parse_bool(text))
            try:
                return int(text)
            except ValueError:
                value = float(text)  # '2.0' is fine for an int flag, '2.5' is not
                if not value.is_integer():
                    raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
                return int(value)
        return to_int
    if isinstance(default, float):
        return float
    return str


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        import re

        choice = re.match(r"argument (--\S+): invalid choice: (.*) \(choose from (.*)\)$", message)
        if choice:
            raise ConfigError(f"{choice.group(1)}={choice.group(2)} is not one of {choice.group(3)}; "
                              f"pick one of those values")
        bad_value = re.match(r"argument (--\S+): (.*)$", message)
        if bad_value:
            raise ConfigError(f"bad value for {bad_value.group(1)}: {bad_value.group(2)}")
        raise ConfigError(message)


def _is_scalar(value):
    return value is None or isinstance(value, (bool, int, float, str))


class ConfigSchema:
    """The keys a recipe knows: shared defaults + the recipe's YAML files + aliases."""

    def __init__(self, model_yaml_paths=(), aliases=None, extra_defaults=None):
        values, helps, choices = read_yaml(SHARED_DEFAULTS)
        self.defaults = dict(values)
        self.stock_values = {key: [value] for key, value in values.items()}  # every value a shipped YAML gives
        self.paths = {str(Path(path).resolve()) for path in [SHARED_DEFAULTS, *model_yaml_paths]}
        self.helps = dict(helps)
        self.choices = dict(choices)
        self.aliases = dict(aliases or {})
        for key, value in (extra_defaults or {}).items():
            self.defaults.setdefault(key, value)
        documents = []
        for path in model_yaml_paths:
            model_values, model_helps, model_choices = read_yaml(path)
            for key, value in model_values.items():
                self.defaults.setdefault(self.canonical(key), value)
                self.stock_values.setdefault(self.canonical(key), []).append(value)
            self.helps.update(model_helps)
            self.choices.update(model_choices)
            documents.append((path, model_helps, model_choices))
        self.check_documents(SHARED_DEFAULTS, helps, choices)
        for path, model_helps, model_choices in documents:
            self.check_documents(path, model_helps, model_choices)
        self.ignored = {}  # key -> IgnoredKey
        for key, text in self.helps.items():
            found = IGNORED_HELP.search(str(text))
            if found:
                self.ignored[self.canonical(key)] = IgnoredKey.parse(found)

    def canonical(self, key):
        return self.aliases.get(key, key)

    def known(self):
        return set(self.defaults) | set(self.aliases)

    def check_keys(self, mapping, where):
        for key in mapping:
            if key == OVERLAY_KEY:
                continue
            if key in RETIRED:
                raise ConfigError(f"{where} sets {key!r}, which this zoo does not have: {RETIRED[key]}")
            if self.canonical(key) not in self.defaults:
                raise ConfigError(f"unknown key {key!r} in {where}{_suggest(key, self.known())}; "
                                  f"remove it or fix its spelling")

    def check_documents(self, path, helps, choices):
        """The help (2nd) and choices (3rd) documents may only name keys the config has: a misspelt key there would
        silently document or restrict nothing."""
        for label, mapping in (("help (2nd document)", helps), ("choices (3rd document)", choices)):
            for key in mapping:
                if self.canonical(key) not in self.defaults and key not in ("config_path", OVERLAY_KEY):
                    raise ConfigError(f"unknown key {key!r} in the {label} of {path}"
                                      f"{_suggest(key, self.known())}; remove it or fix its spelling")
            if label.startswith("choices"):
                for key, allowed in mapping.items():
                    if not isinstance(allowed, list):
                        raise ConfigError(f"{path}: choices for {key!r} must be a list, got {allowed!r}")

    def translate(self, mapping, where):
        self.check_keys(mapping, where)
        return {self.canonical(k): v for k, v in mapping.items() if k != OVERLAY_KEY}

    def build_parser(self, prog, description, positionals=()):
        parser = _Parser(prog=prog, description=description, allow_abbrev=False)
        parser.add_argument("--config_path", type=str, default=None, help="YAML with the recipe's values")
        for name, kwargs in positionals:
            parser.add_argument(name, **kwargs)
        names = sorted(set(self.defaults) | set(self.aliases))
        for key in names:
            canon = self.canonical(key)
            default = self.defaults.get(canon)
            if not _is_scalar(default) or key == "config_path":
                continue
            kwargs = dict(type=_caster(default), default=argparse.SUPPRESS, dest=key,
                          help=str(self.helps.get(key, self.helps.get(canon, ""))) or None)
            if isinstance(default, bool):
                kwargs.update(nargs="?", const=True)  # '--debug' alone means True
            if key in self.choices or canon in self.choices:
                kwargs["choices"] = self.choices.get(key, self.choices.get(canon))
            if key != canon:
                kwargs["help"] = f"alias of --{canon}"
            parser.add_argument(f"--{key}", **kwargs)
        return parser


def _split_known(parser, argv, schema):
    args, rest = parser.parse_known_args(argv)
    for token in rest:
        if token.startswith("--"):
            flag = token[2:].split("=", 1)[0]
            if flag in RETIRED:
                raise ConfigError(f"--{flag} is not a flag of this zoo: {RETIRED[flag]}")
            raise ConfigError(f"unknown flag --{flag}{_suggest(flag, schema.known())}; "
                              f"run with --help to list the flags")
        raise ConfigError(f"unexpected argument {token!r}; flags take the form --key=value")
    return vars(args)


def load_config(schema, argv=None, default_config_path=None, prog="train.py", description="",
                positionals=(), device_key="device_target", config_dirs=(), weights_layer=None):
    """Resolve the configuration.  Returns a :class:`Config` with engine (canonical) keys.

    ``weights_layer``: {key: value} set between the YAMLs and the command line (what a checkpoint's weights fix, see
    :mod:`model_zoo.engine.weights`); its keys' source is 'checkpoint'."""
    argv = list(argv if argv is not None else os.sys.argv[1:])
    parser = schema.build_parser(prog, description, positionals)
    cli = _split_known(parser, argv, schema)
    given_path = cli.pop("config_path", None)
    config_path = given_path or default_config_path
    if config_path and not Path(config_path).is_file():
        for folder in config_dirs:  # a bare name also finds the model folder's YAML, from any directory
            if (Path(folder) / config_path).is_file():
                config_path = Path(folder) / config_path
                break
    positional_values = {name: cli.pop(name) for name, _ in positionals if name in cli}

    cfg = Config(schema.defaults)
    sources = {key: "default_config.yaml" for key in cfg}
    overlay = {}
    if config_path:
        values, helps, choices = read_yaml(config_path)
        overlay = values.get(OVERLAY_KEY) or {}
        layer = schema.translate(values, str(config_path))
        schema.check_documents(config_path, helps, choices)
        cfg.update(layer)
        sources.update({key: str(config_path) for key in layer})
    cli_values = {schema.canonical(k): v for k, v in cli.items()}
    device = str(cli_values.get(device_key, cfg.get(device_key)) or "")
    for dev_name, dev_values in overlay.items():
        if str(dev_name).lower() == device.lower():
            layer = schema.translate(dev_values or {}, f"{config_path} {OVERLAY_KEY}.{dev_name}")
            cfg.update(layer)
            sources.update({key: f"{OVERLAY_KEY}.{dev_name}" for key in layer})
    known_layer = {key: value for key, value in (weights_layer or {}).items() if key in schema.defaults}
    cfg.update(known_layer)
    sources.update({key: "checkpoint" for key in known_layer})
    for key, value in cli_values.items():
        if key in schema.choices and value not in schema.choices[key]:
            raise ConfigError(f"--{key}={value!r} is not one of {schema.choices[key]}")
    below_command_line = {key: cfg.get(key) for key in cli_values}
    cfg.update(cli_values)
    sources.update({key: "command line" for key in cli_values})
    cfg.update(positional_values)
    cfg["config_path"] = str(config_path) if config_path else ""
    sources["config_path"] = "command line" if given_path else "default"
    object.__setattr__(cfg, "sources", sources)
    object.__setattr__(cfg, "below_command_line", below_command_line)  # what the flags given replaced
    object.__setattr__(cfg, "aliases", dict(schema.aliases))
    object.__setattr__(cfg, "flag_names", {})  # key -> the flag messages name, where a recipe uses another one
    return cfg


class IgnoredKey:
    """What a key's "ignored by this zoo" help says: in which tasks (None: all), under which ``key is value``
    condition (None: always), and what to use instead."""

    def __init__(self, tasks, condition, instead):
        self.tasks, self.condition, self.instead = tasks, condition, instead

    @classmethod
    def parse(cls, found):
        tasks = tuple(t.strip() for t in found["tasks"].split(",")) if found["tasks"] else None
        condition = None
        if found["key"]:
            values = re.split(r", | or ", found["values"])
            condition = (found["key"], tuple(v.strip() for v in values if v.strip()))
        return cls(tasks, condition, found["instead"])

    def applies(self, cfg, task):
        if self.tasks is not None and task not in self.tasks:
            return False
        return self.condition is None or str(cfg.get(self.condition[0])) in self.condition[1]

    def context(self, cfg, task):
        where = f" in {task}.py" if self.tasks is not None else ""
        return where + (f" when {self.condition[0]} is {cfg.get(self.condition[0])}" if self.condition else "")


def ignored_lines(schema, cfg, task):
    """One ``WARNING`` line per key the zoo ignores (in ``task``, under the run's other values) that the user set: on
    the command line to a value the YAMLs below it do not give, or in their own YAML to a value no shipped YAML gives
    (a copy of an upstream YAML warns about nothing).  The line says what the key's help says to use instead."""
    lines = []
    below_cli = vars(cfg).get("below_command_line", {})
    for key, ignored in sorted(schema.ignored.items()):
        source = cfg.sources.get(key, "")
        if key not in cfg or not ignored.applies(cfg, task):
            continue
        if source == "command line":
            if str(cfg[key]) == str(below_cli.get(key)):
                continue
        elif not source.endswith((".yaml", ".yml")) or str(Path(source).resolve()) in schema.paths or \
                str(cfg[key]) in {str(value) for value in schema.stock_values.get(key, [])}:
            continue
        lines.append(f"WARNING: {cfg.flag(key)}={cfg[key]} (from {source}) is ignored by this zoo"
                     f"{ignored.context(cfg, task)}: {ignored.instead}")
    return lines


def save_config(cfg, directory, name="config.yaml"):
    """Write the resolved config next to a run's outputs (atomically)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.write_text(cfg.to_yaml(), encoding="utf-8")
    os.replace(tmp, target)
    return target


def flag_name(cfg, key):
    """How the user sets ``key`` in messages: what the recipe's ``prepare`` recorded in ``cfg.flag_names`` (a recipe
    may train with an upstream name such as --per_batch_size), else the key and its aliases."""
    named = vars(cfg).get("flag_names", {}) if hasattr(cfg, "__dict__") else {}
    if key in named:
        return named[key]
    return cfg.flag(key) if hasattr(cfg, "flag") else f"--{key}"


def require_positive(cfg, *keys):
    """Each of ``keys`` must be an integer of at least 1 (batch size, epochs): one line naming the flag otherwise."""
    for key in keys:
        value = cfg.get(key)
        try:
            ok = float(value) >= 1
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ConfigError(f"{flag_name(cfg, key)} must be at least 1, got {value!r}")


def parse_int_list(text, sep=","):
    """'30,60,90' or '30, 60' or [30, 60] -> [30, 60]."""
    if isinstance(text, (list, tuple)):
        return [int(v) for v in text]
    try:
        return [int(float(part)) for part in str(text).replace(" ", "").split(sep) if part]
    except ValueError:
        raise ConfigError(f"expected a comma-separated list of integers, got {text!r}") from None


def parse_image_size(text):
    """'224,224' / '224, 224' / 224 -> (224, 224)."""
    if isinstance(text, int):
        return (text, text)
    values = parse_int_list(text)
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or min(values) <= 0:
        raise ConfigError(f"image_size must be 'H,W' with positive integers, got {text!r}")
    return tuple(values)
