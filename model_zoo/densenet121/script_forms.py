"""The upstream DenseNet launcher forms (ModelZoo ``research/cv/densenet/scripts``), for the shared launcher.

NET_NAME goes to ``--net``, DATASET_NAME to ``--dataset``; ``densenet100`` also picks ``densenet100_config.yaml``
(upstream always read ``densenet121_config.yaml``).  Scripts not listed here take the launcher's generic forms.
Loaded on its own by :func:`model_zoo.engine.registry.script_forms`: keep it free of MindSpore.
"""
from model_zoo.engine.registry import ScriptArg, ScriptForm, register_scripts

NETS = ("densenet121", "densenet161", "densenet169", "densenet201", "densenet100")
DATASETS = ("imagenet", "imagenet2012", "cifar10", "folder")


def _net(name):
    return ScriptArg(name, "config", flag="net", choices=NETS, config={"densenet100": "densenet100_config.yaml"})


def _dataset(name):
    return ScriptArg(name, "flag", flag="dataset", choices=DATASETS)


def _ascend(task, ckpt):
    """DEVICE_NUM RANK_TABLE_FILE NET_NAME DATASET_NAME DATASET ckpt: folders train_<i> / eval_<i>, log.txt, and
    no core binding, as upstream.  The older form of the r1.0 README (``sh scripts/run_distribute_train.sh 8
    rank_table.json /PATH/TO/DATASET /PATH/TO/PRETRAINED_CKPT``) has no NET_NAME / DATASET_NAME: densenet121 on
    ImageNet."""
    place = dict(rank_dir=f"{task}_{{i}}", rank_log="log.txt", taskset=False)
    older = ScriptForm(task, "Ascend", "rank_table", (ScriptArg("DEVICE_NUM", "nproc"),
                                                       ScriptArg("RANK_TABLE_FILE", "rank_table"),
                                                       ScriptArg("DATASET", "data"), ckpt), **place)
    return ScriptForm(task, "Ascend", "rank_table",
                      (ScriptArg("DEVICE_NUM", "nproc"), ScriptArg("RANK_TABLE_FILE", "rank_table"),
                       _net("NET_NAME"), _dataset("DATASET_NAME"), ScriptArg("DATASET", "data"), ckpt),
                      legacy=(older,), **place)


def _gpu(task, names, ckpt):
    """DEVICE_NUM VISIBLE_DEVICES NET DATASET PATH ckpt: mpirun for N > 1, one process otherwise; the log in
    ../train or ../eval of the scripts folder."""
    net, dataset, path = names
    return ScriptForm(task, "GPU", None,
                      (ScriptArg("DEVICE_NUM", "nproc"), ScriptArg("VISIBLE_DEVICES", "visible_devices"),
                       _net(net), _dataset(dataset), ScriptArg(path, "data"), ckpt), log=f"{task}/{task}.log")


def _cpu(task, ckpt):
    """NET DATASET PATH ckpt: one CPU process, the log in ../train or ../eval."""
    return ScriptForm(task, "CPU", "single", (_net("NET"), _dataset("DATASET"), ScriptArg("PATH", "data"), ckpt),
                      log=f"{task}/{task}.log")


FORMS = register_scripts("densenet121", {
    "run_distribute_train": _ascend("train", ScriptArg("CKPT_FILE", "ckpt", optional=True)),
    "run_distribute_eval": _ascend("eval", ScriptArg("CKPT_PATH", "ckpt")),
    "run_distribute_train_gpu": _gpu("train", ("NET_NAME", "DATASET_NAME", "DATASET_PATH"),
                                     ScriptArg("PRE_TRAINED", "ckpt", optional=True)),
    "run_distribute_eval_gpu": _gpu("eval", ("NET", "DATASET", "PATH"), ScriptArg("CKPT", "ckpt")),
    "run_train_cpu": _cpu("train", ScriptArg("PRETRAINED", "ckpt", optional=True)),
    "run_eval_cpu": _cpu("eval", ScriptArg("CKPT", "ckpt")),
})
