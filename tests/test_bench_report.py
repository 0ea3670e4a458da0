"""benchmarks/bench.py report logic on made-up records: ratios, % of peak, medians of repeats, the RESULTS.md
section replaced in place.  Nothing is measured or timed here."""
import importlib.util
import json

from conftest import ROOT

_SPEC = importlib.util.spec_from_file_location("zoo_bench", ROOT / "benchmarks" / "bench.py")
bench = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(bench)


def _model(label, batch, median, rss=1000.0, first=10.0, **extra):
    return dict(ok=True, label=label, spec={"batch": batch, "size": 224}, median_s=median, first_call_s=first,
                compile_est_s=first - median, peak_rss_mb=rss, foreign_cores=0.1, wall_s=30.0, **extra)


def _records():
    key = "densenet121/b8"
    return [
        dict(ok=True, label="versions", mindspore="2.10.0", cpu_env="cpu env: test", wall_s=1.0, foreign_cores=0.0),
        dict(ok=True, label="peak/numpy_sgemm", gflops=100.0, wall_s=1.0, foreign_cores=0.0),
        dict(ok=True, label="peak/numpy_sgemm_end", gflops=200.0, wall_s=1.0, foreign_cores=0.0),
        _model(f"{key}/train/zoo/default", 8, 2.0, rss=2500),
        _model(f"{key}/train/zoo/default", 8, 1.0, rss=2500),   # repeats: the median-speed run is reported
        _model(f"{key}/train/zoo/default", 8, 4.0, rss=2500),
        _model(f"{key}/train/zoo/cache_warm", 8, 2.0, first=3.5),
        _model(f"{key}/train/torch", 8, 1.0, rss=2000),
        _model(f"{key}/train/mindcv", 8, 4.0),
        _model(f"{key}/train/zoo/jit_O1", 8, 1.6),
        _model(f"{key}/infer/zoo/default", 8, 0.5, macs=2_000_000_000),
        _model(f"{key}/infer/torch", 8, 1.0),
        dict(ok=False, label=f"{key}/infer/mindcv", error="ImportError: no mindcv", wall_s=1.0, foreign_cores=0.0),
        dict(ok=True, label="data/train/zoo", imgs_per_s=1000.0, epoch1_imgs_per_s=800.0, peak_rss_mb=500.0,
             wall_s=5.0, foreign_cores=0.0),
        dict(ok=True, label="data/train/torch", imgs_per_s=400.0, epoch1_imgs_per_s=300.0, peak_rss_mb=600.0,
             wall_s=5.0, foreign_cores=0.0),
    ]


def _report(records):
    args = bench.parse_args(["--models", "densenet121", "--variants", "jit_O1", "--no-cache"])
    import datetime

    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    return bench.Report(records, args, "python benchmarks/bench.py --models densenet121", now, now)


def test_ratios_peak_fraction_and_medians():
    report = _report(_records())
    assert report.peak == 200.0
    assert report.ips("densenet121/b8/train/zoo/default") == 4.0  # median of 8/2, 8/1, 8/4 img/s
    assert report.ips("densenet121/b8/train/torch") == 8.0
    # training FLOPs = 3 x 2 x MACs per image x img/s
    assert abs(report.gflops("densenet121/b8", "train", "densenet121/b8/train/zoo/default") - 48.0) < 1e-9
    text = report.markdown()
    assert "| densenet121 | 8 | 224 | 4.00 | 8.00 | 2.00 | 0.50 | 2.00 | 48.0 (24%)" in text
    assert "densenet121/b8/infer/mindcv`: ImportError: no mindcv" in text
    assert "| densenet121 b8 train: default / best-tuned >= 0.95 | 0.80 | no |" in text
    assert "| densenet121 b8 train: peak RSS ours / torch <= 1.1 | 1.25 | no |" in text
    assert "| data pipeline train: zoo / torch >= 2.5 | 2.50 | yes |" in text
    assert "| densenet121 b8 infer: ours / torch >= 1.0 | 2.00 | yes |" in text


def test_results_section_is_replaced_not_duplicated(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text("# Results\n\nintro\n")
    bench.write_results("<!-- bench:full:begin -->\nA\n<!-- bench:full:end -->\n", path, "full")
    bench.write_results("<!-- bench:full:begin -->\nB\n<!-- bench:full:end -->\n", path, "full")
    text = path.read_text()
    assert text.count("bench:full:begin") == 1 and "B" in text and "\nA\n" not in text and "intro" in text


def test_report_rebuilds_from_raw_jsonl(tmp_path):
    raw = tmp_path / "results.jsonl"
    raw.write_text("\n".join(json.dumps(r) for r in _records()) + "\n")
    records = [json.loads(line) for line in raw.read_text().splitlines()]
    assert "### Targets (issues 8 and 16)" in _report(records).markdown()


def test_quick_defaults_are_small():
    args = bench.parse_args(["--quick"])
    assert args.batch == [2] and args.variants == ["default"] and args.max_wait == 0.0
    assert all(bench.MODELS[m]["quick_size"] < bench.MODELS[m]["size"] for m in bench.MODELS)


def _data(label, ips):
    return dict(ok=True, label=label, imgs_per_s=ips, epoch1_imgs_per_s=ips, peak_rss_mb=500.0, wall_s=5.0,
                foreign_cores=0.0)


def test_repeated_data_runs_report_the_median_and_data_only_skips_the_model_tables():
    records = _records()[:3] + [_data("data/train/zoo", v) for v in (900.0, 1200.0, 600.0)] + \
        [_data("data/train/torch", v) for v in (400.0, 300.0, 500.0)]
    args = bench.parse_args(["--data-only", "--repeat", "3"])
    import datetime

    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    text = bench.Report(records, args, "python benchmarks/bench.py --data-only --repeat 3", now, now).markdown()
    assert "each row the median of 3 runs in rotated order" in text
    assert "| train | zoo `image_pipeline` (GeneratorDataset + C++ map ops) | 900 | 900 | 2.25 |" in text
    assert "| data pipeline train: zoo / torch >= 2.5 | 2.25 | no |" in text
    assert "### Training step" not in text and "### Zoo default vs configuration variants" not in text


def test_repeats_rotate_the_order_of_the_data_pipelines(tmp_path, monkeypatch):
    args = bench.parse_args(["--data-only", "--repeat", "3", "--peers", "torch", "--workdir", str(tmp_path)])
    runner = bench.Bench(args)
    seen = []
    monkeypatch.setattr(runner, "run", lambda label, spec, env=None, timeout=None: seen.append(label))
    monkeypatch.setattr(bench, "make_jpeg_folder", lambda folder, count: folder)
    runner.data_runs()
    train = [label.split("/", 2)[2] for label in seen if label.startswith("data/train/")]
    names = ["zoo", "ms_imagefolder", "torch", "zoo/prefetch2", "zoo/prefetch32"]
    assert train == names + names[1:] + names[:1] + names[2:] + names[:2]
    evals = [label.split("/", 2)[2] for label in seen if label.startswith("data/eval/")]
    assert evals[:6] == ["zoo", "ms_imagefolder", "torch", "zoo/ms_decode", "zoo/prefetch2", "zoo/prefetch32"]
    assert len(seen) == 33  # the eval split also runs MindSpore's own Decode, against the zoo's Pillow decode


def _load(name):
    spec = importlib.util.spec_from_file_location(f"zoo_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_memory_profile_reads_mindspore_pool_statistics_and_reports_phases():
    profile = _load("profile_memory")
    # the exit-time line MindSpore 2.10 prints with MS_DEV_RUNTIME_CONF=memory_statistics:True
    text = ("noise\n[MS_RUNTIME_PROF]Common mem pool info: Total allocated mem:2048M, peak used mem:1010M, in used "
            "mem:0M, total use by event mem:0M, total idle mem:2048M. Block unit size:1024M, block counts:2\n")
    assert profile.parse_pool(text) == {"pool_allocated_mb": 2048.0, "pool_peak_used_mb": 1010.0}
    assert profile.parse_pool("no statistics here") == {}
    line = profile.RESULT_TAG + json.dumps({"framework": "zoo", "phases": []})
    assert bench.tagged_result("x\n" + line + "\ny", profile.RESULT_TAG)["framework"] == "zoo"
    zoo = dict(framework="zoo", model="densenet121", batch=8, param_mb=31.0, pool_allocated_mb=2048.0,
               pool_peak_used_mb=1010.0, phases=[dict(phase="framework imported", rss_mb=490.0, peak_mb=490.0),
                                                 dict(phase="first step", rss_mb=2641.0, peak_mb=2700.0,
                                                      heap=908.0, anon=1377.0, files=358.0)])
    torch = dict(framework="torch", model="densenet121", batch=8, param_mb=30.0, saved_for_backward_mb=1026.0,
                 phases=[dict(phase="first step", rss_mb=1772.0, peak_mb=1800.0)])
    text = profile.report({"zoo": zoo, "torch": torch})
    assert "MindSpore memory pool: 2048 MB allocated, 1010 MB peak used" in text
    assert "saved for backward 1026 MB" in text
    assert "+2151" in text  # RSS growth from the previous phase
    assert "(malloc heap 908, other anonymous 1377, files 358)" in text
    assert text.splitlines()[-1] == "peak RSS zoo / torch: 1.50"


def test_data_profile_report_gives_cpu_cost_ratios():
    profile = _load("profile_data")
    zoo = dict(framework="zoo", split="eval", ops=[dict(op="decode_rgb", ms=0.75), dict(op="Resize", ms=0.25)],
               ops_ms=1.0, reference=[dict(op="MindSpore Decode", ms=1.3)], imgs_per_s=1300.0, cores_busy=1.8,
               cpu_ms_per_image=1.4)
    torch = dict(framework="torch", split="eval", ops=[dict(op="PIL decode", ms=1.0)], ops_ms=2.0, imgs_per_s=650.0,
                 cores_busy=1.9, cpu_ms_per_image=2.8)
    text = profile.report({"zoo": zoo, "torch": torch})
    assert "  decode_rgb                    0.75 ms   75.0%" in text
    assert "(MindSpore Decode alone, not in this pipeline: 1.30 ms)" in text
    assert text.splitlines()[-1] == ("torch / zoo CPU ms per image: per-operation 2.00x, pipeline 2.00x; "
                                     "measured zoo / torch img/s 2.00x")
