"""The upstream InceptionV4 launcher forms (ModelZoo ``research/cv/inceptionv4/scripts``), for the shared launcher.

The YAML per device (``default_config_gpu.yaml`` / ``default_config_cpu.yaml``) comes from each script stub.
Scripts not listed here take the launcher's generic forms.  Loaded on its own by
:func:`model_zoo.engine.registry.script_forms`: keep it free of MindSpore.
"""
from model_zoo.engine.registry import ScriptArg, ScriptForm, register_scripts

DEVICE_ID = ScriptArg("DEVICE_ID", "device_id")

FORMS = register_scripts("inceptionv4", {
    # RANK_TABLE_FILE DATA_DIR: train_parallel<i>/log.txt with core binding.  The README's form RANK_TABLE_FILE
    # DATA_PATH DATA_DIR: upstream's script reads only its second argument (the data); the third is ignored.
    "run_distribute_train_ascend": ScriptForm(
        "train", "Ascend", "rank_table", (ScriptArg("RANK_TABLE_FILE", "rank_table"), ScriptArg("DATA_DIR", "data")),
        rank_log="log.txt", legacy=(ScriptForm(
            "train", "Ascend", "rank_table", (ScriptArg("RANK_TABLE_FILE", "rank_table"),
                                              ScriptArg("DATA_PATH", "data"), ScriptArg("DATA_DIR", "flag")),
            rank_log="log.txt"),)),
    # DATASET_PATH: mpirun, 8 processes, train.log
    "run_distribute_train_gpu": ScriptForm("train", "GPU", None, (ScriptArg("DATASET_PATH", "data"),), log="train.log"),
    # [DEVICE_ID] [DATA_DIR] (GPU: [DEVICE_ID] [DATASET_PATH], CPU: [DATA_DIR]): train_standalone/log.txt
    "run_standalone_train_ascend": ScriptForm(
        "train", "Ascend", "single", (DEVICE_ID, ScriptArg("DATA_DIR", "data")), log="train_standalone/log.txt"),
    "run_standalone_train_gpu": ScriptForm(
        "train", "GPU", "single", (DEVICE_ID, ScriptArg("DATASET_PATH", "data")), log="train_standalone/log.txt"),
    "run_standalone_train_cpu": ScriptForm(
        "train", "CPU", "single", (ScriptArg("DATA_DIR", "data"),), log="train_standalone/log.txt"),
    # [DEVICE_ID] [DATA_DIR] [CHECKPOINT_PATH]: evaluation_ascend/eval.log
    "run_eval_ascend": ScriptForm(
        "eval", "Ascend", "single", (DEVICE_ID, ScriptArg("DATA_DIR", "data"), ScriptArg("CHECKPOINT_PATH", "ckpt")),
        log="evaluation_ascend/eval.log"),
    # DATA_DIR CKPT: GPU eval.log in the current folder, CPU evaluation/eval.log (upstream's scripts)
    "run_eval_gpu": ScriptForm("eval", "GPU", "single", (ScriptArg("DATA_DIR", "data"), ScriptArg("CKPT", "ckpt")),
                               log="eval.log"),
    "run_eval_cpu": ScriptForm("eval", "CPU", "single", (ScriptArg("DATA_DIR", "data"), ScriptArg("CKPT", "ckpt")),
                               log="evaluation/eval.log"),
})
