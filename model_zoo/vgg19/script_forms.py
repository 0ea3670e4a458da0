"""The upstream VGG19 launcher forms (ModelZoo ``official/cv/VGG/vgg19/scripts``), for the shared launcher.

Scripts not listed here (``run_distribute_train_gpu.sh DATA_PATH``, the CPU scripts ...) take the launcher's
generic forms.  Loaded on its own by :func:`model_zoo.engine.registry.script_forms`: keep it free of MindSpore.
"""
from model_zoo.engine.registry import ScriptArg, ScriptForm, register_scripts

DATASETS = ("cifar10", "imagenet2012")
DATASET_TYPE = dict(kind="config", config="{}_config.yaml", flag="dataset", choices=DATASETS)

FORMS = register_scripts("vgg19", {
    # RANK_TABLE_FILE DATA_PATH [cifar10|imagenet2012]: config {type}_config.yaml and --dataset=type; the type
    # defaults to cifar10 as upstream.
    "run_distribute_train": ScriptForm(
        "train", "Ascend", "rank_table",
        (ScriptArg("RANK_TABLE_FILE", "rank_table"), ScriptArg("DATA_PATH", "data"),
         ScriptArg("cifar10|imagenet2012", optional=True, default="cifar10", **DATASET_TYPE))),
    # YAML_CONFIG_PATH DATA_PATH; upstream sets no DEVICE_ID (device 0); log.txt
    "run_standalone_train_ascend": ScriptForm(
        "train", "Ascend", "single",
        (ScriptArg("YAML_CONFIG_PATH", "config"), ScriptArg("DATA_PATH", "data")), log="log.txt"),
    # DATA_PATH DATASET_TYPE DEVICE_TYPE CHECKPOINT_PATH -> eval.py --config_path=./{type}_config.yaml --dataset
    # --device_target --pre_trained > output.eval.log
    "run_eval": ScriptForm(
        "eval", None, "single",
        (ScriptArg("DATA_PATH", "data"), ScriptArg("DATASET_TYPE", **DATASET_TYPE), ScriptArg("DEVICE_TYPE", "device"),
         ScriptArg("CHECKPOINT_PATH", "ckpt")), log="output.eval.log"),
})
