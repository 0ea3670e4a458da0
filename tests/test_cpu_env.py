"""The fast-CPU environment: ISA choice and its precedence, the conv self-test's parsing and verdict, saved verdicts,
and the run log naming the chosen setting.  Pure logic: nothing here times anything."""
import json

import pytest

from model_zoo.engine import cpu_env

REF = "jit_uni_ncsp:conv+ref:any"
GEMM = "x64:gemm:jit"


def _result(isa, ms, impl):
    return {"isa": isa, "ms": ms, "impl": impl}


@pytest.fixture
def cpuinfo(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text("processor\t: 0\nmodel name\t: Test CPU 9000\nflags\t\t: fpu sse4_2 avx avx2 fma avx512f "
                    "avx512bw\n")
    return path


def test_cpu_model_and_flags_from_cpuinfo(cpuinfo):
    assert cpu_env.cpu_model(cpuinfo) == "Test CPU 9000"
    assert {"avx2", "avx512f"} <= cpu_env.cpu_flags(cpuinfo)
    assert cpu_env.cpu_model(cpuinfo.parent / "missing") == "" and cpu_env.cpu_flags(cpuinfo.parent / "no") == set()


def test_parse_conv_output_reads_time_kernel_and_isa():
    text = ("onednn_verbose,v1,info,cpu,isa:Intel AVX2\n"
            "onednn_verbose,v1,primitive,exec,cpu,convolution,x64:gemm:jit,forward_training,src:f32::blocked:abcd"
            "::f0,,alg:convolution_direct,mb1_ic64oc64_ih28oh28kh3sh1dh0ph1_iw28ow28kw3sw1dw0pw1,3.2\n"
            "onednn_verbose,v1,primitive,exec,cpu,convolution,other:impl,forward_training,,,1.0\n"
            "ZOO_CONV_MS 12.5\n")
    assert cpu_env.parse_conv_output(text) == (12.5, GEMM, "Intel AVX2")
    assert cpu_env.parse_conv_output("crash\n") == (None, None, None)


@pytest.mark.parametrize("impl,is_ref", [(REF, True), ("ref:any", True), (GEMM, False),
                                         ("jit_uni_ncsp:matmul+brg_matmul:avx512_core", False), (None, False)])
def test_reference_kernel_detected_by_name(impl, is_ref):
    assert cpu_env.is_reference_kernel(impl) is is_ref


def test_verdict_caps_when_uncapped_takes_the_reference_kernel():
    verdict = cpu_env.decide([_result("ALL", 430.0, REF), _result("AVX512_CORE", 410.0, REF),
                              _result("AVX2", 12.0, GEMM)])
    assert verdict["isa"] == "AVX2" and verdict["slow_path"]
    assert "36x slower" in verdict["short"] and "reference kernel" in verdict["short"]


def test_verdict_keeps_no_cap_when_it_is_as_fast():
    verdict = cpu_env.decide([_result("ALL", 10.5, "brg:avx512_core"), _result("AVX2", 10.0, GEMM)])
    assert verdict["isa"] == "ALL" and not verdict["slow_path"]


def test_verdict_caps_when_uncapped_is_clearly_slower_even_without_reference_kernel():
    verdict = cpu_env.decide([_result("ALL", 30.0, "jit:avx512_core"), _result("AVX2", 10.0, GEMM)])
    assert verdict["isa"] == "AVX2" and verdict["slow_path"]


def test_verdict_never_recommends_a_reference_kernel_and_handles_failures():
    verdict = cpu_env.decide([_result("ALL", 9.0, REF), _result("AVX2", 11.0, GEMM)])
    assert verdict["isa"] == "AVX2"
    assert cpu_env.decide([{"isa": "ALL", "ms": None, "impl": None}])["isa"] is None
    assert cpu_env.decide([_result("AVX2", 11.0, GEMM)])["isa"] == "AVX2"  # uncapped run failed


def test_isa_precedence_user_then_saved_verdict_then_flags():
    verdict = {"isa": "SSE41", "date": "2026-01-01", "short": "3x3 conv 20 ms with SSE41"}
    assert cpu_env.choose_isa({"avx512f"}, {"DNNL_MAX_CPU_ISA": "AVX2"}, verdict)[0] is None
    value, reason = cpu_env.choose_isa({"avx512f"}, {}, verdict)
    assert value == "SSE41" and "self-test 2026-01-01" in reason
    value, reason = cpu_env.choose_isa({"avx512f"}, {}, dict(verdict, isa="ALL"))
    assert value is None and "no cap needed" in reason
    assert cpu_env.choose_isa({"avx512f"}, {}, None)[0] == "AVX2"
    assert cpu_env.choose_isa({"avx2"}, {}, None)[0] is None


def test_saved_verdict_is_used_only_for_the_same_cpu_and_mindspore(tmp_path, cpuinfo):
    path = tmp_path / "cache" / "cpu_env.json"
    flags = cpu_env.cpu_flags(cpuinfo)
    sig = cpu_env.signature(flags, cpu_env.cpu_model(cpuinfo), cpu_env.mindspore_version())
    cpu_env.save_verdict(str(path), {"version": cpu_env.VERDICT_VERSION, "signature": sig, "isa": "ALL",
                                     "date": "2026-01-02", "short": "no difference"})
    assert cpu_env.load_verdict(str(path), sig)["isa"] == "ALL"
    assert cpu_env.load_verdict(str(path), dict(sig, mindspore="9.9")) is None
    assert cpu_env.load_verdict(str(path), dict(sig, cpu="Other CPU")) is None
    env = {}
    summary = cpu_env.apply(env, cpuinfo_path=str(cpuinfo), verdict_path=str(path))
    assert "ONEDNN_MAX_CPU_ISA" not in env and "self-test 2026-01-02: no cap needed" in summary  # AVX-512 flags
    env = {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}
    summary = cpu_env.apply(env, cpuinfo_path=str(cpuinfo), verdict_path=str(path))
    assert env["ONEDNN_MAX_CPU_ISA"] == "AVX512_CORE" and "set by the user" in summary
    path.write_text("{not json")
    env = {}
    cpu_env.apply(env, cpuinfo_path=str(cpuinfo), verdict_path=str(path))
    assert env["ONEDNN_MAX_CPU_ISA"] == "AVX2"  # unreadable cache: back to the flag heuristic
    path.write_text(json.dumps({"version": cpu_env.VERDICT_VERSION + 1, "signature": sig, "isa": "ALL"}))
    assert cpu_env.load_verdict(str(path), sig) is None


def test_apply_sets_threads_and_keeps_the_users_thread_count(cpuinfo, tmp_path):
    env = {}
    summary = cpu_env.apply(env, cpuinfo_path=str(cpuinfo), verdict_path=str(tmp_path / "none.json"))
    assert env["OMP_NUM_THREADS"] == str(cpu_env.usable_cores()) and f"threads={cpu_env.usable_cores()}" in summary
    env = {"OMP_NUM_THREADS": "1"}
    cpu_env.apply(env, cpuinfo_path=str(cpuinfo), verdict_path=str(tmp_path / "none.json"))
    assert env["OMP_NUM_THREADS"] == "1"


def test_cache_location_follows_model_zoo_cache_dir(tmp_path):
    assert cpu_env.cache_file({"MODEL_ZOO_CACHE_DIR": str(tmp_path)}) == str(tmp_path / "cpu_env.json")


def test_check_reports_and_saves_the_verdict_without_touching_the_real_cache(monkeypatch, tmp_path):
    timings = {"ALL": _result("ALL", 400.0, REF), "AVX512_CORE": _result("AVX512_CORE", 390.0, REF),
               "AVX2": _result("AVX2", 10.0, GEMM)}
    monkeypatch.setattr(cpu_env, "run_conv_check", lambda isa: dict(timings[isa]))
    lines = []
    target = tmp_path / "cpu_env.json"
    verdict = cpu_env.check(save=True, out=lines.append, path=str(target))
    assert verdict["isa"] == "AVX2"
    text = "\n".join(lines)
    assert "reference kernel (slow path)" in text and "ONEDNN_MAX_CPU_ISA=AVX2 is fastest" in text
    saved = json.loads(target.read_text())
    assert saved["isa"] == "AVX2" and saved["signature"]["mindspore"] == cpu_env.mindspore_version()
    lines.clear()
    monkeypatch.setattr(cpu_env, "run_conv_check", lambda isa: {"isa": isa, "ms": None, "impl": None, "error": "x"})
    other = tmp_path / "other.json"
    assert cpu_env.check(save=True, out=lines.append, path=str(other))["isa"] is None and not other.exists()


def test_run_log_names_the_cpu_setting_once(tmp_path, capsys):
    import model_zoo
    from model_zoo.engine import runtime
    from model_zoo.engine.config import Config

    cfg = Config(device_target="CPU", device_id=0, mode="GRAPH", is_distributed=0, seed=1,
                 ckpt_path=str(tmp_path), output_dir_template="{ckpt_path}/{datetime}")
    runtime.setup(cfg, "eval", to_file=False)
    out = capsys.readouterr().out
    assert out.count(model_zoo.CPU_ENV_SUMMARY) == 1 and out.startswith("cpu env: ")


@pytest.mark.parametrize("opt_out", [None, "0"])
def test_cpu_env_opt_out_leaves_the_process_environment_untouched(tmp_path, opt_out):
    """``import model_zoo`` sets OMP_NUM_THREADS (and on AVX-512 CPUs the oneDNN cap); MODEL_ZOO_CPU_ENV=0 sets
    nothing, and the run log's cpu env line says so."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "ONEDNN_MAX_CPU_ISA",
                                                             "DNNL_MAX_CPU_ISA", "MODEL_ZOO_CPU_ENV")}
    env["MODEL_ZOO_CACHE_DIR"] = str(tmp_path)  # no saved verdict
    if opt_out is not None:
        env["MODEL_ZOO_CPU_ENV"] = opt_out
    code = ("import json, os; before = dict(os.environ); import model_zoo; "
            "print(json.dumps([{k: v for k, v in os.environ.items() if before.get(k) != v}, model_zoo.CPU_ENV_SUMMARY]))")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    changed, summary = json.loads(result.stdout)
    if opt_out:
        assert changed == {}
        assert summary == ("cpu env: untouched (MODEL_ZOO_CPU_ENV=0): ONEDNN_MAX_CPU_ISA=<default>, "
                           "OMP_NUM_THREADS=<default>")
    else:
        assert changed["OMP_NUM_THREADS"] == str(cpu_env.usable_cores())
        assert set(changed) <= {"OMP_NUM_THREADS", "ONEDNN_MAX_CPU_ISA"}
        assert summary.startswith("cpu env: ONEDNN_MAX_CPU_ISA=")
