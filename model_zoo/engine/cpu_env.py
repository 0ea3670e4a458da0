"""Fast CPU defaults that must be in place *before* MindSpore is imported.

MindSpore 2.10 hands oneDNN plain NCHW layouts; on CPUs with AVX-512 oneDNN then runs 3x3 (and larger)
convolutions through its naive reference kernel (``jit_uni_ncsp:conv+ref:any``), 65-190x slower than the
JIT GEMM path it takes when capped at AVX2.  Capping the ISA costs nothing measurable on the FMA rate of the
machines we measured (Zen 4 runs AVX-512 as two 256-bit halves), so the zoo caps it whenever the CPU reports
AVX-512 and the user has not chosen a value.  An explicit ``ONEDNN_MAX_CPU_ISA`` (or ``DNNL_MAX_CPU_ISA``)
always wins.  This module imports nothing heavy so that ``import model_zoo`` can call it first.
"""
import os
import sys

_ISA_VARS = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")
_STATE = {"applied": None}


def cpu_flags(cpuinfo_path="/proc/cpuinfo"):
    """Return the set of CPU feature flags of the first core (empty set when unknown)."""
    try:
        with open(cpuinfo_path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith(("flags", "Features")):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def usable_cores():
    """Cores this process may run on (affinity mask, cgroup-agnostic fallback to cpu_count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def choose_isa(flags, environ):
    """Decide the oneDNN ISA cap.  Returns (value or None, reason)."""
    for var in _ISA_VARS:
        if environ.get(var):
            return None, f"{var}={environ[var]} set by the user"
    if any(flag.startswith("avx512") for flag in flags):
        return "AVX2", "CPU has AVX-512: capping oneDNN at AVX2 avoids MindSpore's reference-convolution path"
    return None, "CPU has no AVX-512: oneDNN default kept"


def apply(environ=None, cpuinfo_path="/proc/cpuinfo"):
    """Set the fast CPU environment once.  Returns a one-line description of what was chosen."""
    environ = os.environ if environ is None else environ
    if environ is os.environ and _STATE["applied"] is not None:
        return _STATE["applied"]
    value, reason = choose_isa(cpu_flags(cpuinfo_path), environ)
    late = "mindspore" in sys.modules and environ is os.environ
    if value is not None:
        if late:
            reason += " (WARNING: mindspore was imported first, the cap may not take effect)"
        environ["ONEDNN_MAX_CPU_ISA"] = value
    cores = usable_cores()
    # OpenMP-based kernels (oneDNN gemm) follow OMP_NUM_THREADS; size it to the cores we may use.
    environ.setdefault("OMP_NUM_THREADS", str(cores))
    summary = f"cpu env: ONEDNN_MAX_CPU_ISA={environ.get('ONEDNN_MAX_CPU_ISA', '<default>')} ({reason}); threads={cores}"
    if environ is os.environ:
        _STATE["applied"] = summary
    return summary
