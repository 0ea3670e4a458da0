"""Layered config: precedence, typed flags, aliases, unknown keys and flags."""
from pathlib import Path

import pytest

from model_zoo.engine.cli import resolve
from model_zoo.engine.config import ConfigSchema, load_config, parse_image_size, parse_int_list, save_config
from model_zoo.engine.errors import ConfigError

YAML = """
lr: 0.5
batch_size: 16
my_model_key: "abc"
has_flag: False
epoch_size: 7
device_overlay:
  CPU:
    batch_size: 8
  GPU:
    batch_size: 128
---
lr: "learning rate"
---
my_model_key: ["abc", "xyz"]
"""


@pytest.fixture
def schema(tmp_path):
    path = tmp_path / "model_config.yaml"
    path.write_text(YAML)
    return ConfigSchema([path], aliases={"epoch_size": "max_epoch"}), path


def test_precedence_shared_model_overlay_cli(schema):
    sch, path = schema
    cfg = load_config(sch, ["--device_target=CPU"], path)
    assert cfg.lr == 0.5 and cfg.momentum == 0.9          # model YAML over shared defaults
    assert cfg.batch_size == 8                            # CPU overlay over model YAML
    assert load_config(sch, ["--device_target=GPU"], path).batch_size == 128
    cfg = load_config(sch, ["--device_target=CPU", "--batch_size=3", "--lr", "0.25"], path)
    assert cfg.batch_size == 3 and cfg.lr == 0.25         # flags over everything
    assert cfg.sources["batch_size"] == "command line" and cfg.sources["momentum"] == "default_config.yaml"


def test_flags_are_typed_from_yaml_values(schema):
    sch, path = schema
    for text, expected in (("True", True), ("0", False), ("1", True), ("false", False)):
        assert load_config(sch, [f"--has_flag={text}"], path).has_flag is expected
    assert load_config(sch, ["--debug"], path).debug is True
    assert load_config(sch, ["--batch_size=2.0"], path).batch_size == 2
    with pytest.raises(ConfigError, match="batch_size"):
        load_config(sch, ["--batch_size=2.5"], path)
    with pytest.raises(ConfigError, match="has_flag"):
        load_config(sch, ["--has_flag=maybe"], path)
    with pytest.raises(ConfigError, match="--my_model_key=.nope. is not one of"):
        load_config(sch, ["--my_model_key=nope"], path)


def test_alias_sets_the_engine_key(schema):
    sch, path = schema
    assert load_config(sch, [], path).max_epoch == 7
    assert load_config(sch, ["--epoch_size=3"], path).max_epoch == 3
    assert load_config(sch, ["--max_epoch=4"], path).max_epoch == 4


def test_unknown_flag_names_it_and_suggests(schema):
    sch, path = schema
    with pytest.raises(ConfigError, match=r"unknown flag --bacth_size; did you mean 'batch_size'\?"):
        load_config(sch, ["--bacth_size=3"], path)


def test_unknown_yaml_key_names_it_and_suggests(schema, tmp_path):
    sch, _ = schema
    bad = tmp_path / "user.yaml"
    bad.write_text("lr: 0.1\nweight_decy: 0.1\n")
    with pytest.raises(ConfigError, match=r"unknown key 'weight_decy' in .*user.yaml; did you mean 'weight_decay'\?"):
        load_config(sch, [f"--config_path={bad}"], None)


def test_missing_and_invalid_config_files(schema, tmp_path):
    sch, _ = schema
    with pytest.raises(ConfigError, match="not found"):
        load_config(sch, [f"--config_path={tmp_path / 'nope.yaml'}"], None)
    broken = tmp_path / "broken.yaml"
    broken.write_text("lr: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(sch, [f"--config_path={broken}"], None)


def test_resolved_config_is_written(schema, tmp_path):
    sch, path = schema
    cfg = load_config(sch, ["--lr=0.125"], path)
    written = save_config(cfg, tmp_path / "run")
    import yaml

    assert yaml.safe_load(written.read_text())["lr"] == 0.125


def test_vgg_recipe_resolution():
    _, cfg = resolve("train", "vgg19", ["--model_version=D", "--batch_norm=True", "--dataset=cifar10"])
    assert cfg.arch == "vgg16_bn" and cfg.dataset == "cifar10" and cfg.num_classes == 10
    # a paper letter is the paper's network (no BatchNorm) and, alone, the paper recipe (seed 004)
    _, cfg = resolve("train", "vgg19", ["--model_version=A"])
    assert (cfg.arch, cfg.batch_norm, Path(cfg.config_path).name) == ("vgg11", False, "vgg_paper_config.yaml")
    _, cfg = resolve("train", "vgg19", ["--model_version=A", "--dataset=cifar10"])  # cifar10 YAML has batch_norm
    assert (cfg.arch, cfg.batch_norm, Path(cfg.config_path).name) == ("vgg11", False, "cifar10_config.yaml")
    _, cfg = resolve("train", "vgg19", ["--arch=vgg13_bn", "--batch_norm=False"])
    assert cfg.arch == "vgg13_bn" and cfg.batch_norm is True
    with pytest.raises(ConfigError, match="unknown architecture 'vgg20'; did you mean"):
        resolve("train", "vgg19", ["--arch=vgg20"])


def test_list_parsers():
    assert parse_int_list("30, 60,90") == [30, 60, 90]
    assert parse_image_size("224, 224") == (224, 224) and parse_image_size(32) == (32, 32)
    with pytest.raises(ConfigError):
        parse_image_size("a,b")


def test_missing_attribute_is_a_config_error_and_an_attribute_error(schema):
    """``cfg.x`` for an unknown key names it (one line for the user), while ``hasattr`` / ``getattr(cfg, x, d)``
    fall back as for any Python object."""
    cfg = load_config(schema[0], ["--lr=0.25"], schema[1])
    assert hasattr(cfg, "lr") and not hasattr(cfg, "no_such_key")
    assert getattr(cfg, "no_such_key", "fallback") == "fallback"
    assert getattr(cfg, "lr", None) == 0.25
    with pytest.raises(ConfigError, match="config has no key 'lrr'; did you mean 'lr'"):
        cfg.lrr  # noqa: B018
