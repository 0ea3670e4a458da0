"""Data-parallel test driver: the engine's own training (``trainer.train``) with the vgg19 recipe, recording the
exact batches each rank trained on and dumping the parameters to .npz.

    python dp_driver.py --dump_dir=D [--union=1] [train.py flags]      (under msrun / mpirun with --is_distributed=1)

Distributed (``--is_distributed=1``): each rank takes the first epoch of the recipe's own sharded pipeline, saves it
as ``D/batches_rank<r>.npz`` and trains one epoch on exactly those batches through ``trainer.train`` (data-parallel
context, gradient mean, parameter broadcast, Model.train), then writes ``D/init_rank<r>.npz`` and
``D/final_rank<r>.npz``.  Reference (``--union=1``, one process): step k trains on the concatenation of every rank's
step-k batch, from ``D/init_rank0.npz``, and writes ``D/final_union.npz``.
"""
import dataclasses
import sys
from pathlib import Path

import model_zoo  # noqa: F401  (fast CPU settings before MindSpore loads)
import numpy as np


def _pop(argv, name, default=None):
    for i, token in enumerate(argv):
        if token.startswith(f"--{name}="):
            del argv[i]
            return token.split("=", 1)[1]
    return default


def _params(net):
    return {p.name: p.asnumpy() for p in net.get_parameters()}


def _dataset_of(batches):
    import mindspore.dataset as ds

    class Source:
        def __len__(self):
            return len(batches)

        def __getitem__(self, i):
            return batches[i]

    return ds.GeneratorDataset(Source(), column_names=["image", "label"], shuffle=False)


def main():
    argv = sys.argv[1:]
    dump = Path(_pop(argv, "dump_dir"))
    union = _pop(argv, "union", "0") == "1"
    dump.mkdir(parents=True, exist_ok=True)

    from model_zoo.engine import cli, trainer

    recipe, cfg = cli.resolve("train", "vgg19", argv)
    nets = []

    def dataset(cfg, training, rank, group_size):
        if union:
            shards = [np.load(p) for p in sorted(dump.glob("batches_rank*.npz"))]
            steps = len(shards[0]["labels"])
            batches = [(np.concatenate([s["images"][k] for s in shards]),
                        np.concatenate([s["labels"][k] for s in shards])) for k in range(steps)]
        else:
            real = recipe.dataset(cfg, training, rank, group_size)
            batches = [(img, lbl) for img, lbl in real.create_tuple_iterator(output_numpy=True, num_epochs=1)]
            np.savez(dump / f"batches_rank{rank}.npz", images=np.stack([b[0] for b in batches]),
                     labels=np.stack([b[1] for b in batches]))
        return _dataset_of(batches)

    def network(cfg, phase):
        import mindspore as ms

        net = recipe.network(cfg, phase)
        if union:
            start = np.load(dump / "init_rank0.npz")
            ms.load_param_into_net(net, {k: ms.Parameter(ms.Tensor(v), name=k) for k, v in start.items()},
                                   strict_load=True)
        else:
            np.savez(dump / f"init_rank{cfg.rank}.npz", **_params(net))
        nets.append(net)
        return net

    summary = trainer.train(dataclasses.replace(recipe, dataset=dataset, network=network), cfg)
    name = "final_union.npz" if union else f"final_rank{cfg.rank}.npz"
    np.savez(dump / name, **_params(nets[-1]))
    print(f"dp_driver: rank {cfg.rank}/{cfg.group_size} wrote {dump / name} after "
          f"{summary['steps_per_epoch']} step(s), loss {summary['last_loss']}", flush=True)


if __name__ == "__main__":
    main()
