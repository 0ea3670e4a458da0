"""Fast CPU defaults that must be in place *before* MindSpore is imported.

MindSpore 2.10 hands oneDNN plain NCHW layouts; on CPUs with AVX-512 oneDNN then runs 3x3 (and larger)
convolutions through its naive reference kernel (``jit_uni_ncsp:conv+ref:any``), 65-190x slower than the
JIT GEMM path it takes when capped at AVX2.  Capping the ISA costs nothing measurable on the FMA rate of the
machines we measured (Zen 4 runs AVX-512 as two 256-bit halves), so the zoo caps it whenever the CPU reports
AVX-512 and the user has not chosen a value.  An explicit ``ONEDNN_MAX_CPU_ISA`` (or ``DNNL_MAX_CPU_ISA``)
always wins.

The flag check is a heuristic.  ``python -m model_zoo.engine.cpu_env --check`` measures instead: it times one 3x3
convolution in a fresh MindSpore process per oneDNN ISA cap (no cap, AVX512_CORE, AVX2), reads the kernel oneDNN
picked (``ONEDNN_VERBOSE``), prints which is faster and saves the verdict for this CPU and MindSpore version
(``~/.cache/model_zoo/cpu_env.json``, or ``$MODEL_ZOO_CACHE_DIR``).  :func:`apply` then follows the saved verdict
on this machine instead of the heuristic (the user's own setting still wins).

``MODEL_ZOO_CPU_ENV=0`` opts out: ``import model_zoo`` then leaves the process's environment as it found it.

This module imports nothing heavy so that ``import model_zoo`` can call it first.
"""
import json
import os
import sys
import time

_ISA_VARS = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")
OPT_OUT_VAR = "MODEL_ZOO_CPU_ENV"  # 0 / false / no / off: change nothing
_STATE = {"applied": None}
NO_CAP = "ALL"  # oneDNN's value for "no limit"
CHECK_CANDIDATES = (NO_CAP, "AVX512_CORE", "AVX2")
# one 3x3 convolution: 58 MFLOP, a few ms on the GEMM path, about half a second on oneDNN's reference kernel
CHECK_SHAPE = {"batch": 1, "channels": 64, "size": 28}
VERDICT_VERSION = 1

if sys.argv[:1] == ["-m"]:  # `python -m model_zoo.engine.cpu_env`: the package imported this module already (harmless)
    import warnings

    warnings.filterwarnings("ignore", message=r"'model_zoo\.engine\.cpu_env' found in sys\.modules",
                            category=RuntimeWarning)


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


def cpu_model(cpuinfo_path="/proc/cpuinfo"):
    """The CPU's model name ('' when unknown)."""
    try:
        with open(cpuinfo_path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith(("model name", "Model", "CPU part")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def usable_cores():
    """Cores this process may run on (affinity mask, cgroup-agnostic fallback to cpu_count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def mindspore_version():
    """Installed MindSpore version without importing it ('' when not installed)."""
    try:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("mindspore")
        except PackageNotFoundError:
            return ""
    except Exception:  # noqa: BLE001 - a broken metadata tree must never stop the zoo from importing
        return ""


def signature(flags, model, ms_version):
    """What a saved self-test verdict is valid for: this CPU (model + ISA flags) and this MindSpore."""
    isa = sorted(f for f in flags if f.startswith(("avx", "amx", "sse", "fma", "asimd", "sve")))
    return {"cpu": model, "isa_flags": " ".join(isa), "mindspore": ms_version}


# ---------------------------------------------------------------------------------------------------------------
# saved self-test verdicts
# ---------------------------------------------------------------------------------------------------------------

def cache_file(environ=None):
    environ = os.environ if environ is None else environ
    root = environ.get("MODEL_ZOO_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "model_zoo")
    return os.path.join(root, "cpu_env.json")


def load_verdict(path, sig):
    """The saved verdict for ``sig`` (None when there is none, it is for another CPU/MindSpore, or unreadable)."""
    try:
        with open(path, encoding="utf-8") as handle:
            saved = json.load(handle)
    except (OSError, ValueError):
        return None
    if not isinstance(saved, dict) or saved.get("version") != VERDICT_VERSION or saved.get("signature") != sig:
        return None
    if not isinstance(saved.get("isa"), str) or not saved["isa"]:
        return None
    return saved


def save_verdict(path, verdict):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(verdict, handle, indent=2)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------------------------
# choice
# ---------------------------------------------------------------------------------------------------------------

def choose_isa(flags, environ, verdict=None):
    """Decide the oneDNN ISA cap.  Returns (value or None, reason).

    Precedence: the user's own ``ONEDNN_MAX_CPU_ISA``/``DNNL_MAX_CPU_ISA``; then a saved self-test verdict for this
    CPU and MindSpore (``verdict``); then the AVX-512 flag heuristic."""
    for var in _ISA_VARS:
        if environ.get(var):
            return None, f"{var}={environ[var]} set by the user"
    if verdict:
        isa, short = verdict["isa"], verdict.get("short") or "saved verdict"
        if isa == NO_CAP:
            return None, f"self-test {verdict.get('date', '?')}: no cap needed ({short})"
        return isa, f"self-test {verdict.get('date', '?')}: {short}"
    if any(flag.startswith("avx512") for flag in flags):
        return "AVX2", "CPU has AVX-512: capping oneDNN at AVX2 avoids MindSpore's reference-convolution path"
    return None, "CPU has no AVX-512: oneDNN default kept"


def apply(environ=None, cpuinfo_path="/proc/cpuinfo", verdict_path=None):
    """Set the fast CPU environment once.  Returns a one-line description of what was chosen."""
    environ = os.environ if environ is None else environ
    if environ is os.environ and _STATE["applied"] is not None:
        return _STATE["applied"]
    if environ.get(OPT_OUT_VAR, "").strip().lower() in ("0", "false", "no", "off"):
        summary = (f"cpu env: untouched ({OPT_OUT_VAR}={environ[OPT_OUT_VAR]}): ONEDNN_MAX_CPU_ISA="
                   f"{environ.get('ONEDNN_MAX_CPU_ISA', '<default>')}, OMP_NUM_THREADS="
                   f"{environ.get('OMP_NUM_THREADS', '<default>')}")
        if environ is os.environ:
            _STATE["applied"] = summary
        return summary
    flags = cpu_flags(cpuinfo_path)
    verdict = None
    if not any(environ.get(var) for var in _ISA_VARS):
        path = verdict_path or cache_file(environ)
        if os.path.isfile(path):  # only then is the MindSpore version looked up
            verdict = load_verdict(path, signature(flags, cpu_model(cpuinfo_path), mindspore_version()))
    value, reason = choose_isa(flags, environ, verdict)
    late = "mindspore" in sys.modules and environ is os.environ
    if value is not None:
        if late:
            reason += " (WARNING: mindspore was imported first, the cap may not take effect)"
        environ["ONEDNN_MAX_CPU_ISA"] = value
    cores = usable_cores()
    # OpenMP-based kernels (oneDNN gemm) follow OMP_NUM_THREADS; size it to the cores we may use.
    environ.setdefault("OMP_NUM_THREADS", str(cores))
    summary = (f"cpu env: ONEDNN_MAX_CPU_ISA={environ.get('ONEDNN_MAX_CPU_ISA', '<default>')} ({reason}); "
               f"threads={cores}, OMP_NUM_THREADS={environ['OMP_NUM_THREADS']}")
    if environ is os.environ:
        _STATE["applied"] = summary
    return summary


# ---------------------------------------------------------------------------------------------------------------
# self-test: python -m model_zoo.engine.cpu_env --check
# ---------------------------------------------------------------------------------------------------------------

_CONV_CHILD = r"""
import statistics, sys, time
import numpy as np
import mindspore as ms
from mindspore import ops
n, c, s, threads, reps = (int(v) for v in sys.argv[1:6])
ms.set_context(mode=ms.PYNATIVE_MODE)
ms.set_device("CPU")
ms.device_context.cpu.op_tuning.threads_num(threads)
x = ms.Tensor(np.random.default_rng(0).standard_normal((n, c, s, s)).astype(np.float32))
w = ms.Tensor(np.random.default_rng(1).standard_normal((c, c, 3, 3)).astype(np.float32))
conv = ops.Conv2D(c, 3, pad_mode="pad", pad=1)
conv(x, w).asnumpy()
times = []
for _ in range(reps):
    start = time.perf_counter()
    conv(x, w).asnumpy()
    times.append(time.perf_counter() - start)
print("ZOO_CONV_MS", statistics.median(times) * 1000.0, flush=True)
"""


def parse_conv_output(text):
    """(median ms or None, oneDNN convolution implementation or None, oneDNN ISA line or None) from a child's output."""
    millis = impl = isa = None
    for line in text.splitlines():
        if line.startswith("ZOO_CONV_MS "):
            try:
                millis = float(line.split()[1])
            except (IndexError, ValueError):
                pass
        elif "onednn_verbose" in line or "dnnl_verbose" in line:
            parts = line.split(",")
            if ",info,cpu,isa:" in line:
                isa = line.split("isa:", 1)[1].strip()
            elif "convolution" in parts and impl is None:
                position = parts.index("convolution")
                if position + 1 < len(parts):
                    impl = parts[position + 1]
    return millis, impl, isa


def run_conv_check(isa, threads=None, reps=2, timeout=300, python=None):
    """Time the 3x3 convolution in a fresh MindSpore process with ``ONEDNN_MAX_CPU_ISA=isa``."""
    import subprocess

    env = {k: v for k, v in os.environ.items() if k not in _ISA_VARS}
    env.update(ONEDNN_MAX_CPU_ISA=isa, ONEDNN_VERBOSE="1")
    args = [python or sys.executable, "-c", _CONV_CHILD, str(CHECK_SHAPE["batch"]), str(CHECK_SHAPE["channels"]),
            str(CHECK_SHAPE["size"]), str(threads or usable_cores()), str(reps)]
    start = time.time()
    try:
        proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"isa": isa, "ms": None, "impl": None, "error": f"timed out after {timeout}s"}
    millis, impl, isa_line = parse_conv_output(proc.stdout + "\n" + proc.stderr)
    result = {"isa": isa, "ms": millis, "impl": impl, "onednn_isa": isa_line, "wall_s": round(time.time() - start, 1)}
    if millis is None:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        result["error"] = f"exit {proc.returncode}: {tail[:200]}"
    return result


def is_reference_kernel(impl):
    """oneDNN's naive reference implementations are named 'ref:...' (possibly inside a wrapper: '...+ref:any')."""
    return bool(impl) and any(part.startswith("ref") for part in impl.replace("+", ":").split(":"))


def decide(results, tolerance=0.15):
    """The verdict of a self-test from per-ISA results ({'isa', 'ms', 'impl'} dicts).

    Recommends no cap unless a capped run is faster by more than ``tolerance`` or the uncapped run uses a reference
    kernel; among capped settings, the fastest."""
    ok = [r for r in results if r.get("ms")]
    if not ok:
        return {"isa": None, "slow_path": None, "summary": "no setting could be measured"}
    fastest = min(ok, key=lambda r: r["ms"])
    uncapped = next((r for r in ok if r["isa"] == NO_CAP), None)
    slow_path = bool(uncapped and (is_reference_kernel(uncapped["impl"]) or
                                   uncapped["ms"] > fastest["ms"] * (1 + tolerance)))
    if uncapped is not None and not slow_path:
        choice = uncapped
    else:
        choice = min((r for r in ok if not is_reference_kernel(r["impl"])), key=lambda r: r["ms"], default=fastest)
    parts = [f"{r['isa']} {r['ms']:.1f} ms ({r.get('impl') or '?'})" for r in ok]
    summary = f"3x3 conv {', '.join(parts)}"
    short = f"3x3 conv {choice['ms']:.1f} ms with {choice['isa']}"
    if uncapped is not None and choice is not uncapped:
        ref = ", oneDNN reference kernel" if is_reference_kernel(uncapped["impl"]) else ""
        short += f" vs {uncapped['ms']:.1f} ms uncapped ({uncapped['ms'] / choice['ms']:.0f}x slower{ref})"
    return {"isa": choice["isa"], "slow_path": slow_path, "summary": summary, "short": short}


def check(save=True, candidates=CHECK_CANDIDATES, out=print, path=None):
    """Run the self-test, print a report, save the verdict (unless ``save`` is False).  Returns the verdict."""
    flags = cpu_flags()
    sig = signature(flags, cpu_model(), mindspore_version())
    out(f"CPU: {sig['cpu'] or '?'}; AVX-512: {'yes' if any(f.startswith('avx512') for f in flags) else 'no'}; "
        f"MindSpore {sig['mindspore'] or 'not installed'}; {usable_cores()} usable cores")
    shape = CHECK_SHAPE
    out(f"timing one 3x3 convolution (N{shape['batch']}, {shape['channels']}->{shape['channels']}, "
        f"{shape['size']}x{shape['size']}) in a fresh MindSpore process per oneDNN ISA cap ...")
    results = []
    for isa in candidates:
        result = run_conv_check(isa)
        results.append(result)
        if result.get("ms") is None:
            out(f"  {isa:<12} failed: {result.get('error')}")
        else:
            ref = "  <- oneDNN reference kernel (slow path)" if is_reference_kernel(result["impl"]) else ""
            out(f"  {isa:<12} {result['ms']:9.1f} ms  {result['impl'] or '?'}{ref}")
    verdict = decide(results)
    verdict.update(version=VERDICT_VERSION, signature=sig, date=time.strftime("%Y-%m-%d"), results=results)
    if verdict["isa"] is None:
        out("no setting could be measured; nothing saved")
        return verdict
    if verdict["isa"] == NO_CAP:
        out("verdict: no cap needed here (the uncapped oneDNN is as fast as any cap)")
    else:
        out(f"verdict: ONEDNN_MAX_CPU_ISA={verdict['isa']} is fastest"
            f"{' (the uncapped run takes the slow path)' if verdict['slow_path'] else ''}")
    if "set by the user" in current_summary():
        out(f"note: {current_summary()}; your setting keeps winning over the verdict")
    if save:
        target = path or cache_file()
        save_verdict(target, verdict)
        out(f"saved to {target}: `import model_zoo` follows it on this CPU with MindSpore {sig['mindspore']}")
    return verdict


def current_summary():
    """What ``import model_zoo`` chose for this process (under ``python -m`` this module runs twice)."""
    package = sys.modules.get("model_zoo")
    return getattr(package, "CPU_ENV_SUMMARY", None) or apply()


def _main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(prog="python -m model_zoo.engine.cpu_env",
                                     description="Show the zoo's CPU setting, or measure which oneDNN ISA cap is "
                                                 "fastest here (--check).")
    parser.add_argument("--check", action="store_true", help="time a 3x3 convolution per ISA cap and save the verdict")
    parser.add_argument("--no-save", action="store_true", help="with --check: print only, save nothing")
    args = parser.parse_args(argv)
    if args.check:
        verdict = check(save=not args.no_save)
        return 0 if verdict.get("isa") else 1
    from model_zoo.engine.console import say

    say(current_summary())
    return 0


if __name__ == "__main__":
    sys.exit(_main())
