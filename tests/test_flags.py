"""Every flag does what its table says: the tables' defaults are what the scripts run with, an upstream key the zoo
ignores says so in one line when it is set, and a flag the zoo does not have is an error naming the one to use."""
import re

import pytest

from conftest import ROOT, run_script
from model_zoo.engine.docs import flag_rows

DRY = {"MODEL_ZOO_DRY_RUN": "1"}
# the flag whose value training runs with (DenseNet trains with per_batch_size, as upstream)
TRAIN_BATCH_FLAG = {"vgg19": "--batch_size", "densenet121": "--per_batch_size", "inceptionv4": "--batch_size"}


def dry(recipe, script, *args, cwd=None):
    result = run_script(ROOT / "model_zoo" / recipe / script, *args, cwd=cwd or ROOT / "model_zoo" / recipe, env=DRY)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.parametrize("recipe", sorted(TRAIN_BATCH_FLAG))
def test_a_plain_train_py_runs_with_the_table_defaults_and_warns_about_nothing(recipe):
    table = {flag: str(default) for flag, default, _ in flag_rows(recipe)}
    out = dry(recipe, "train.py")
    assert f"image_size {table['--image_size']}\n" in out, out  # InceptionV4: 299,299 (its height/width)
    assert f"training: batch_size {table[TRAIN_BATCH_FLAG[recipe]]} x" in out, out
    assert "WARNING" not in out, out


def test_an_ignored_upstream_key_set_on_the_command_line_is_one_warning_line():
    out = dry("inceptionv4", "train.py", "--ckpt_save_dir=/tmp/elsewhere")
    lines = [line for line in out.splitlines() if "ckpt_save_dir" in line]
    assert lines == ["WARNING: --ckpt_save_dir=/tmp/elsewhere (from command line) is ignored by this zoo: checkpoints "
                     "go to <ckpt_path>/ckpts_rank_<rank>/; set --ckpt_path"], out
    assert "dry run: train inceptionv4" in out  # a warning, the run goes on


def test_an_ignored_upstream_key_in_the_users_yaml_is_one_warning_line(tmp_path):
    """A user's copy of the upstream YAML with graph_ckpt: 0 (upstream eval's switch for a PyNative checkpoint)."""
    text = (ROOT / "model_zoo" / "vgg19" / "cifar10_config.yaml").read_text()
    mine = tmp_path / "my_cifar10_config.yaml"
    mine.write_text(re.sub(r"^graph_ckpt: 1$", "graph_ckpt: 0", text, flags=re.M))
    out = dry("vgg19", "eval.py", f"--config_path={mine}", "--pre_trained=absent.ckpt")
    assert (f"WARNING: --graph_ckpt=0 (from {mine}) is ignored by this zoo: eval.py reads either checkpoint form "
            f"(graph_ckpt 1 or 0) itself; nothing to set") in out.splitlines(), out


def test_a_key_one_task_ignores_warns_in_that_task_only():
    """DenseNet: --batch_size is export's batch (as upstream); train.py reads --per_batch_size."""
    train = dry("densenet121", "train.py", "--batch_size=8")
    assert ("WARNING: --batch_size=8 (from command line) is ignored by this zoo in train.py: train.py and eval.py "
            "read --per_batch_size (as upstream)") in train.splitlines(), train
    assert "training: batch_size 32 x" in train
    export = dry("densenet121", "export.py", "--batch_size=8", "--ckpt_files=absent.ckpt")
    assert "WARNING" not in export and "export: MINDIR densenet, batch_size 8" in export, export


def test_export_batch_size_is_an_error_that_names_batch_size(tmp_path):
    """--export_batch_size was in the tables but no code read it; upstream export.py reads batch_size."""
    result = run_script(ROOT / "model_zoo" / "vgg19" / "export.py", "--export_batch_size=4", "--ckpt_file=x.ckpt",
                        cwd=tmp_path, env=DRY)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "error: --export_batch_size is not a flag of this zoo: export.py reads --batch_size, as upstream "
        "(0 = dynamic batch, MINDIR/ONNX)"], result.stderr


def test_export_batch_size_in_a_yaml_is_an_error(tmp_path):
    from model_zoo.engine.config import ConfigSchema, load_config
    from model_zoo.engine.errors import ConfigError

    mine = tmp_path / "old.yaml"
    mine.write_text("batch_size: 4\nexport_batch_size: 1\n")
    with pytest.raises(ConfigError, match=r"sets 'export_batch_size', which this zoo does not have: export.py reads "
                                          r"--batch_size"):
        load_config(ConfigSchema(), [f"--config_path={mine}"])


def test_a_key_one_schedule_ignores_warns_under_that_schedule_only(capsys):
    """VGG's CIFAR-10 recipe (lr_scheduler step) runs from lr_init to lr_max: --lr is ignored there, read by the
    cosine schedule; a ModelArts key is ignored without --enable_modelarts."""
    from model_zoo.engine.cli import config_builder
    from model_zoo.engine.registry import get_recipe

    recipe = get_recipe("vgg19")
    config_builder(recipe, "train", ["--lr=0.05", "--data_url=s3://bucket/data"])()
    assert capsys.readouterr().out.splitlines() == [
        "WARNING: --data_url=s3://bucket/data (from command line) is ignored by this zoo when enable_modelarts is "
        "False: pass the local data root with --data_dir",
        "WARNING: --lr=0.05 (from command line) is ignored by this zoo when lr_scheduler is step: the step schedule "
        "runs from --lr_init to --lr_max"]
    config_builder(recipe, "train", ["--lr=0.05", "--lr_scheduler=cosine_annealing"])()
    config_builder(recipe, "train", ["--lr=0.01"])()  # the value the YAML gives: nothing was changed
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("recipe", sorted(TRAIN_BATCH_FLAG))
def test_every_key_is_read_by_some_code_or_says_it_is_ignored(recipe):
    """A new upstream key nobody reads cannot slip in silently: each scalar key a recipe accepts is read somewhere in
    model_zoo (``cfg.key``, ``"key"``, or a ``{key}`` path template) or its help says "ignored by this zoo"."""
    from model_zoo.engine.config import ConfigSchema, _is_scalar
    from model_zoo.engine.registry import get_recipe

    schema_files = {ROOT / "model_zoo" / "engine" / name for name in ("config.py", "docs.py")}
    code = "\n".join(p.read_text() for p in (ROOT / "model_zoo").rglob("*.py") if p not in schema_files)
    templates = "\n".join(p.read_text() for p in (ROOT / "model_zoo").rglob("*.yaml"))
    spec = get_recipe(recipe)
    schema = ConfigSchema(spec.yaml_paths(), spec.aliases)
    unread = [key for key, value in schema.defaults.items() if _is_scalar(value) and key not in schema.ignored
              and not re.search(rf"\.{key}\b|[\"']{key}[\"']", code) and f"{{{key}}}" not in templates]
    assert not unread, (f"{recipe} accepts {unread} but no code reads them: use them, or say in the YAML's help "
                        f"document 'ignored by this zoo: <what to use instead>'")
