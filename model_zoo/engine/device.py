"""The device backends: everything that differs between CPU, GPU and Ascend lives in one entry here.

Adding a device means adding one :class:`DeviceBackend` to :data:`BACKENDS`; scripts, launchers, training,
evaluation and export only ever ask the entry (``get_backend(name)``), never compare device names themselves.
"""
import os
import shutil
from dataclasses import dataclass, field

from model_zoo.engine.errors import DeviceError

_DEVICE_SET = {}
_AVAILABLE = {}  # device name -> MindSpore's answer (asked once per process)


def _probe(name):
    """``mindspore.device_context.<device>.is_available()``, without the two WARNING lines MindSpore logs for each
    absent device (about ten lines for a plain ``--device_target auto``): the zoo's own one-line reason replaces
    them when that device is asked for.  Returns True/False, or the exception of a plugin that cannot load."""
    import logging

    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        import mindspore.device_context as dc  # noqa: WPS433 (import on demand: heavy)

        return bool(getattr(dc, name.lower()).is_available())
    except Exception as exc:  # noqa: BLE001 - a broken plugin is "not available", with its reason
        return exc
    finally:
        logging.disable(previous)


@dataclass(frozen=True)
class DeviceBackend:
    """What one device target needs.

    Attributes:
        name: MindSpore device target (``CPU``, ``GPU``, ``Ascend``).
        comm_backend: name MindSpore's ``communication.init`` uses on it.
        launchers: distributed launchers in order of preference (``msrun``, ``mpirun``, ``rank_table``).
        amp_default: AMP level used when the config leaves ``amp_level`` empty.
        amp_levels: AMP levels that work on it (MindSpore 2.10 rejects dynamic loss scaling on CPU).
        dynamic_loss_scale: whether ``DynamicLossScaleManager`` is accepted.
        export_formats: formats ``mindspore.export`` can write with this backend.
        priority: ``--device_target auto`` picks the available backend with the highest priority.
        rank_env: environment variables carrying (rank, world size, local device id) under its launchers.
        extra_env: environment every process of a job on it needs (set by the launcher, and by setup()).
        default_nproc: processes per node the distributed launchers start when not told.
        visible_devices_env: variable restricting the devices a process sees ('' = no such selection).
        mpirun_init: MindSpore's init() takes the ranks from OpenMPI here; if False (CPU), mpirun only spawns the
            processes and the launcher gives each MindSpore's dynamic-cluster variables plus one scheduler.
        dataset_sink: whether ``dataset_sink_mode: True`` sinks the pipeline here.  MindSpore 2.10 can sink on CPU,
            but then callbacks run once per sink instead of per step (no mid-epoch checkpoints, step logs or
            exact resume) and it measured no faster (benchmarks/RESULTS.md), so the CPU entry feeds step by step.
        onnx_providers: onnxruntime execution providers to try, in order, for ONNX files on this device.
        offline_app: the upstream offline-inference app (``ascend310_infer/out/main``) runs on this device: the r1.x
            ``run_infer_310.sh`` forms target it, and a compiled app is used on it.
        fast_conv: ``nn.Conv2d`` runs oneDNN's blocked-layout convolutions as AOT Custom operators
            (:mod:`model_zoo.engine.kernels.fastconv`; CPU), built once per machine; export always writes the
            native operator (:meth:`native_operators`).
    """

    name: str
    comm_backend: str
    launchers: tuple
    amp_default: str
    amp_levels: tuple
    dynamic_loss_scale: bool
    export_formats: tuple
    priority: int
    rank_env: tuple = ("RANK_ID", "RANK_SIZE", "DEVICE_ID")
    extra_env: dict = field(default_factory=dict)
    default_nproc: int = 8
    visible_devices_env: str = ""
    mpirun_init: bool = True
    dataset_sink: bool = True
    onnx_providers: tuple = ("CPUExecutionProvider",)
    offline_app: bool = False
    fast_conv: bool = False

    def is_available(self):
        """(available, reason).  Never raises."""
        if self.name == "CPU":
            return True, "CPU backend is always present"
        if self.name not in _AVAILABLE:
            _AVAILABLE[self.name] = _probe(self.name)
        ok = _AVAILABLE[self.name]
        if isinstance(ok, Exception):  # pragma: no cover - depends on the wheel
            return False, f"MindSpore cannot load its {self.name} plugin ({ok.__class__.__name__})"
        if ok:
            return True, f"MindSpore reports {self.name} available"
        hint = {"GPU": "a CUDA GPU, its driver and the CUDA 11.x libraries",
                "Ascend": "an Ascend NPU with CANN installed"}.get(self.name, "the device and its plugin")
        return False, f"MindSpore cannot use {self.name} on this machine (it needs {hint})"

    def require(self):
        ok, reason = self.is_available()
        if not ok:
            raise DeviceError(f"--device_target {self.name}: {reason}; use --device_target CPU (or auto) here")

    def setup_context(self, mode="GRAPH", device_id=0, jit_level=""):
        """Set execution mode, then the device (MindSpore 2.x order: mode before device before init()).

        ``jit_level`` (GRAPH mode): MindSpore's compile level (O0 / O1 / O2); empty keeps MindSpore's default.
        """
        import mindspore as ms

        self.require()
        graph = str(mode).upper() == "GRAPH"
        ms.set_context(mode=ms.GRAPH_MODE if graph else ms.PYNATIVE_MODE)
        if graph and jit_level:
            ms.set_context(jit_config={"jit_level": str(jit_level)})
        wanted = (self.name, 0 if self.name == "CPU" else int(device_id))
        if _DEVICE_SET.get("device") == wanted:
            return  # MindSpore refuses to set the device again once kernels have run
        if _DEVICE_SET.get("device") is not None:
            raise DeviceError(f"this process already runs on {_DEVICE_SET['device'][0]}; start a new process "
                              f"for {self.name}")
        try:
            if self.name == "CPU":
                ms.set_device("CPU")
                from model_zoo.engine.cpu_env import usable_cores

                ms.device_context.cpu.op_tuning.threads_num(usable_cores())
            else:
                ms.set_device(self.name, int(device_id))
        except RuntimeError as exc:
            # kernels already ran in this process (e.g. a network built before the run): that runtime is the
            # default CPU one, which is what the CPU entry wants; any other device needs a fresh process
            if "runtime has been initialized" not in str(exc) or self.name != "CPU":
                raise DeviceError(f"MindSpore's runtime already started in this process, so it cannot switch to "
                                  f"{self.name}; start a new process") from None
        _DEVICE_SET["device"] = wanted
        if self.fast_conv:
            from model_zoo.engine.kernels import fastconv

            fastconv.enable()

    def native_operators(self, *nets):
        """Context in which ``nets`` compile with MindSpore's own operators (export: files must not name the
        zoo's Custom kernels)."""
        import contextlib

        if not self.fast_conv:
            return contextlib.nullcontext()
        from model_zoo.engine.kernels import fastconv

        return fastconv.native(*nets)

    def choose_launcher(self, requested=None):
        """The launcher to use: the requested one if this device supports it, else the first present one."""
        if requested:
            if requested not in self.launchers:
                raise DeviceError(f"launcher {requested!r} is not supported on {self.name}; "
                                  f"choose one of {', '.join(self.launchers)}")
            return requested
        for launcher in self.launchers:
            if launcher == "rank_table" or shutil.which(launcher):
                return launcher
        return self.launchers[-1]

    def check_export_format(self, file_format):
        fmt = str(file_format).upper()
        if fmt not in ("MINDIR", "ONNX", "AIR"):
            raise DeviceError(f"unknown --file_format {file_format!r}; choose MINDIR, ONNX or AIR")
        if fmt not in self.export_formats:
            raise DeviceError(f"--file_format {fmt} needs {'an Ascend backend' if fmt == 'AIR' else 'another device'}"
                              f" (MindSpore can only write it there); on {self.name} use "
                              f"{' or '.join(self.export_formats)}")
        return fmt

    def check_amp(self, amp_level):
        level = amp_level or self.amp_default
        if level not in self.amp_levels:
            raise DeviceError(f"amp_level {level!r} is not supported on {self.name}; choose one of "
                              f"{', '.join(self.amp_levels)}")
        return level


BACKENDS = {
    "CPU": DeviceBackend(
        name="CPU", comm_backend="mccl", launchers=("msrun", "mpirun"), amp_default="O0",
        amp_levels=("O0", "O1", "O2", "O3", "auto"), dynamic_loss_scale=False,
        export_formats=("MINDIR", "ONNX"), priority=0, default_nproc=2, mpirun_init=False, dataset_sink=False,
        fast_conv=True),
    "GPU": DeviceBackend(
        name="GPU", comm_backend="nccl", launchers=("mpirun", "msrun"), amp_default="O2",
        amp_levels=("O0", "O1", "O2", "O3", "auto"), dynamic_loss_scale=True,
        export_formats=("MINDIR", "ONNX"), priority=1, visible_devices_env="CUDA_VISIBLE_DEVICES",
        onnx_providers=("CUDAExecutionProvider", "CPUExecutionProvider")),
    "Ascend": DeviceBackend(
        name="Ascend", comm_backend="hccl", launchers=("rank_table", "msrun"), amp_default="O3",
        amp_levels=("O0", "O1", "O2", "O3", "auto"), dynamic_loss_scale=True,
        export_formats=("MINDIR", "ONNX", "AIR"), priority=2,
        extra_env={"HCCL_CONNECT_TIMEOUT": "600"}, visible_devices_env="ASCEND_RT_VISIBLE_DEVICES",
        offline_app=True),
}

_ALIASES = {name.lower(): name for name in BACKENDS}


def get_backend(name):
    """Look up a backend by (case-insensitive) name; ``auto`` picks the best available one."""
    key = str(name or "auto").strip()
    if key.lower() == "auto":
        return best_available()
    if key.lower() not in _ALIASES:
        raise DeviceError(f"unknown --device_target {name!r}; choose one of {', '.join(BACKENDS)} or auto")
    return BACKENDS[_ALIASES[key.lower()]]


def best_available():
    for backend in sorted(BACKENDS.values(), key=lambda b: -b.priority):
        if backend.is_available()[0]:
            return backend
    return BACKENDS["CPU"]


def rank_info(backend=None):
    """(rank, world size, local device id) from the launcher's environment."""
    backend = backend or BACKENDS["CPU"]
    rank_var, size_var, dev_var = backend.rank_env
    env = os.environ
    rank = int(env.get(rank_var) or env.get("OMPI_COMM_WORLD_RANK") or 0)
    size = int(env.get(size_var) or env.get("OMPI_COMM_WORLD_SIZE") or 1)
    dev = int(env.get(dev_var) or env.get("OMPI_COMM_WORLD_LOCAL_RANK") or 0)
    return rank, size, dev
