"""The RESULTS.md section of a benchmark run: tables, ratios, targets, from the raw per-measurement records."""
import json
import os
import statistics
import subprocess
from pathlib import Path

from workers import VARIANTS

# issue 16: training speed the zoo must reach against PyTorch + timm (inference: 1.0 for all)
TRAIN_VS_TORCH = {"vgg19": 1.2, "densenet121": 1.0, "inception_v4": 1.1}


def _fmt(value, digits=2):
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return f"{value:.{digits}f}"


def _ratio(a, b):
    return a / b if a and b else None


def lscpu_model():
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        text = ""
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    model = fields.get("Model name", "?").strip()
    family, mod = fields.get("CPU family", "").strip(), fields.get("Model", "").strip()
    hyper = fields.get("Hypervisor vendor", "").strip()
    flags = fields.get("Flags", "")
    isa = "AVX-512" if "avx512f" in flags else ("AVX2" if "avx2" in flags else "no AVX2")
    return (f"{model} (family {family} model {mod}), {len(os.sched_getaffinity(0))} usable cores of "
            f"{os.cpu_count()}, {isa}{', under ' + hyper if hyper else ''}")


def mem_total_gib():
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            kib = int(handle.readline().split()[1])
        return kib / 1024 / 1024
    except (OSError, ValueError, IndexError):
        return None


class Report:
    def __init__(self, records, args, command, started, finished):
        self.records = records
        self.by_label, self.groups = {}, {}
        for record in records:
            self.groups.setdefault(record["label"], []).append(record)
        for label, group in self.groups.items():
            ok = [r for r in group if r.get("ok")]
            if ok and all(r.get("median_s") for r in ok):  # repeated measurement: the run with the median speed
                ok.sort(key=lambda r: r["median_s"])
                self.by_label[label] = ok[(len(ok) - 1) // 2]
            elif ok and all(r.get("imgs_per_s") for r in ok):  # repeated data-pipeline run: the median one
                ok.sort(key=lambda r: r["imgs_per_s"])
                self.by_label[label] = ok[(len(ok) - 1) // 2]
            else:
                self.by_label[label] = ok[-1] if ok else group[-1]
        self.args, self.command, self.started, self.finished = args, command, started, finished
        peaks = [r["gflops"] for r in records if r["label"].startswith("peak/") and r.get("ok")]
        self.peak = max(peaks) if peaks else None
        self.peaks = peaks

    def get(self, label, key=None):
        record = self.by_label.get(label)
        if record is None or not record.get("ok"):
            return None
        return record if key is None else record.get(key)

    def ips(self, label):
        record = self.get(label)
        if not record:
            return None
        return record["spec"]["batch"] / record["median_s"]

    def runs(self, label):
        return len([r for r in self.groups.get(label, []) if r.get("ok")])

    def gflops(self, key, task, label):
        macs = self.get(f"{key}/macs", "macs") or self.get(f"{key}/infer/zoo/default", "macs")
        ips = self.ips(label)
        if not macs or not ips:
            return None
        return ips * 2 * macs * (3 if task == "train" else 1) / 1e9

    def error(self, label):
        record = self.by_label.get(label)
        if record is None:
            return "not run"
        return None if record.get("ok") else record.get("error", "failed")

    def markdown(self):
        args = self.args
        versions = self.get("versions") or {}
        loads = [r["foreign_cores"] for r in self.records if r.get("wall_s")]
        mode = section_name(args)
        lines = [f"<!-- bench:{mode}:begin -->",
                 f"## CPU speed: the zoo vs PyTorch and MindCV ({mode} run, {self.started:%Y-%m-%d})", "",
                 f"Command: `{self.command}`", "",
                 "| item | value |", "|---|---|",
                 f"| date | {self.started:%Y-%m-%d %H:%M} – {self.finished:%H:%M} UTC |",
                 f"| machine | {lscpu_model()}, {_fmt(mem_total_gib(), 1)} GiB RAM |"]
        for name in ("python", "mindspore", "numpy", "torch", "torchvision", "timm", "mindcv"):
            lines.append(f"| {name} | {versions.get(name, '?')} |")
        lines.append(f"| zoo CPU env (default) | {versions.get('cpu_env', '?')} |")
        if loads:
            lines.append(f"| foreign load (cores used by other processes while measuring) | mean "
                         f"{statistics.mean(loads):.2f}, max {max(loads):.2f} over {len(loads)} runs; per run "
                         f"in the tables |")
        lines.append(f"| matmul peak (numpy 4096^3 sgemm, same run) | "
                     f"{', '.join(_fmt(p, 1) for p in self.peaks)} GFLOP/s; the best, {_fmt(self.peak, 1)}, is the "
                     f"peak used below |")
        lines.append("")
        if not getattr(args, "data_only", False):
            lines += self.model_tables()
            lines += self.compile_table()
            lines += self.tuning_table()
        lines += self.data_table()
        lines += self.targets_table()
        lines.append(f"<!-- bench:{mode}:end -->")
        return "\n".join(lines) + "\n"

    def model_tables(self):
        out = []
        for task in self.args.tasks:
            out += [f"### {'Training step (fwd + bwd + Momentum 0.9)' if task == 'train' else 'Inference'}", "",
                    "| model | batch | input | ours img/s | torch img/s | MindCV img/s | ours/torch | ours/MindCV "
                    "| ours GFLOP/s (% peak) | torch % peak | ours first call s (compile est.) | warm-cache first "
                    "call s (compile est.) | torch first call s | peak RSS MB ours / torch / MindCV | foreign load "
                    "ours / torch / MindCV |", "|" + "---|" * 15]
            for batch in self.args.batch:
                for model in self.args.models:
                    key = f"{model}/b{batch}"
                    zoo, torch_, mcv = (f"{key}/{task}/zoo/default", f"{key}/{task}/torch", f"{key}/{task}/mindcv")
                    warm = f"{key}/{task}/zoo/cache_warm"
                    zr = self.get(zoo)
                    size = zr["spec"]["size"] if zr else "?"
                    gz, gt = self.gflops(key, task, zoo), self.gflops(key, task, torch_)

                    def pct(g):
                        return f"{g / self.peak * 100:.0f}%" if g and self.peak else "—"

                    def first(label):
                        r = self.get(label)
                        return f"{r['first_call_s']:.1f} ({r['compile_est_s']:.1f})" if r else "—"

                    def rss(label):
                        return _fmt(self.get(label, "peak_rss_mb"), 0)

                    def load(label):
                        r = self.by_label.get(label)
                        return _fmt(r["foreign_cores"]) if r and r.get("wall_s") else "—"

                    out.append(
                        f"| {model} | {batch} | {size} | {_fmt(self.ips(zoo))} | {_fmt(self.ips(torch_))} | "
                        f"{_fmt(self.ips(mcv))} | {_fmt(_ratio(self.ips(zoo), self.ips(torch_)))} | "
                        f"{_fmt(_ratio(self.ips(zoo), self.ips(mcv)))} | {_fmt(gz, 1)} ({pct(gz)}) | {pct(gt)} | "
                        f"{first(zoo)} | {first(warm)} | {_fmt(self.get(torch_, 'first_call_s'), 1)} | "
                        f"{rss(zoo)} / {rss(torch_)} / {rss(mcv)} | {load(zoo)} / {load(torch_)} / {load(mcv)} |")
            out.append("")
            errors = [(label, self.error(label)) for label in self.by_label if f"/{task}/" in label
                      and self.error(label)]
            for label, err in errors:
                out.append(f"* `{label}`: {err}")
            if errors:
                out.append("")
        return out

    def compile_table(self):
        """Cold vs warm compile, with MindSpore's own phase times (MS_DEV_RUNTIME_CONF=compile_statistics:True)."""
        if self.args.no_cache:
            return []
        out = ["### Graph compile: cold vs warm compile cache (s)", "",
               "compile est. = first call - median step. Phases: MindSpore's `[PROF]` totals of the run "
               "(`compile_graph` = whole graph compile; `compile_backend_graph` = its backend part, of which "
               "`CreateKernel` builds the CPU kernels).", "",
               "| model | batch | task | cold first call (compile est.) | cold compile_graph / backend / CreateKernel "
               "| warm first call (compile est.) | warm compile_graph / backend / CreateKernel |",
               "|---|---|---|---|---|---|---|"]

        def phases(label):
            record = self.get(label) or {}
            ph = record.get("compile_phases_s") or {}
            if not ph:
                return "—"
            return " / ".join(_fmt(ph.get(k), 2) for k in ("compile_graph", "compile_backend_graph", "CreateKernel"))

        def first(label):
            record = self.get(label)
            return f"{record['first_call_s']:.1f} ({record['compile_est_s']:.1f})" if record else "—"

        for batch in ([] if self.args.data_only else self.args.batch):
            for model in self.args.models:
                for task in self.args.tasks:
                    base = f"{model}/b{batch}/{task}/zoo"
                    cold = f"{base}/cache_fill" if f"{base}/cache_fill" in self.by_label else f"{base}/default"
                    out.append(f"| {model} | {batch} | {task} | {first(f'{base}/default')} | {phases(cold)} | "
                               f"{first(f'{base}/cache_warm')} | {phases(f'{base}/cache_warm')} |")
        out.append("")
        return out

    def tuning_rows(self):
        rows = []
        names = ["default"] + [v for v in self.args.variants if v != "default"]
        for batch in ([] if self.args.data_only else self.args.batch):
            for model in self.args.models:
                for task in self.args.tasks:
                    base = f"{model}/b{batch}/{task}/zoo"
                    values = {name: self.ips(f"{base}/{name}") for name in names}
                    rss = {name: self.get(f"{base}/{name}", "peak_rss_mb") for name in names}
                    measured = {k: v for k, v in values.items() if v}
                    best = max(measured, key=measured.get) if measured else None
                    rows.append((model, batch, task, values, rss, best))
        return names, rows

    def tuning_table(self):
        names, rows = self.tuning_rows()
        if len(names) < 2:
            return []
        out = ["### Zoo default vs configuration variants (img/s; peak RSS MB in brackets)", "",
               f"Each cell is the median of {self.args.repeat} run(s), run interleaved with the other variants.", "",
               "Variants: " + "; ".join(f"`{n}` = {json.dumps(VARIANTS[n])}" for n in names if n != "default"), "",
               "| model | batch | task | " + " | ".join(names) + " | best | default / best |",
               "|" + "---|" * (len(names) + 5)]
        for model, batch, task, values, rss, best in rows:
            cells = [f"{_fmt(values[n])} ({_fmt(rss[n], 0)})" if values[n] else "—" for n in names]
            ratio = _ratio(values.get("default"), values.get(best)) if best else None
            out.append(f"| {model} | {batch} | {task} | " + " | ".join(cells) + f" | {best or '—'} | "
                       f"{_fmt(ratio)} |")
        out.append("")
        return out

    def data_table(self):
        if self.args.skip_data:
            return []
        out = ["### Data pipeline (generated JPEGs 500x375 q90, 8 classes, batch 32, "
               f"{self.args.data_workers} workers, 224x224 ImageNet transforms; steady = median of epochs 2..N"
               + (f"; each row the median of {self.args.repeat} runs in rotated order" if self.args.repeat > 1
                  else "") + ")", "",
               "| split | pipeline | steady img/s | epoch-1 img/s | / torch | peak RSS MB | foreign load |",
               "|---|---|---|---|---|---|---|"]
        names = {"zoo": "zoo `image_pipeline` (GeneratorDataset + C++ map ops)",
                 "ms_imagefolder": "MindSpore ImageFolderDataset + the zoo's ops",
                 "torch": "torch DataLoader + torchvision ImageFolder (PIL)",
                 "zoo/ms_decode": "zoo with MindSpore's `Decode` (the eval decode before Pillow's)"}
        for split in ("train", "eval"):
            torch_ips = self.get(f"data/{split}/torch", "imgs_per_s")
            labels = [f"data/{split}/{f}" for f in names] + [f"data/{split}/zoo/prefetch{p}"
                                                           for p in self.args.data_prefetch]
            for label in labels:
                record = self.by_label.get(label)
                if record is None:
                    continue
                name = names.get(label.split("/", 2)[2], label.split("/", 2)[2].replace("zoo/", "zoo, "))
                if not record.get("ok"):
                    out.append(f"| {split} | {name} | failed: {record.get('error')} | | | | |")
                    continue
                out.append(f"| {split} | {name} | {record['imgs_per_s']:.0f} | {record['epoch1_imgs_per_s']:.0f} | "
                           f"{_fmt(_ratio(record['imgs_per_s'], torch_ips))} | {record['peak_rss_mb']:.0f} | "
                           f"{record['foreign_cores']:.2f} |")
        out.append("")
        return out

    def targets_table(self):
        out = ["### Targets (issues 8 and 16)", "", "| target | measured | met |", "|---|---|---|"]

        def row(name, value, ok):
            out.append(f"| {name} | {value} | {'yes' if ok else ('no' if ok is not None else 'not measured')} |")

        _, rows = self.tuning_rows()
        for model, batch, task, values, _, best in rows:
            if len(self.args.variants) < 2:
                break
            ratio = _ratio(values.get("default"), values.get(best)) if best else None
            row(f"{model} b{batch} {task}: default / best-tuned >= 0.95", _fmt(ratio),
                None if ratio is None else ratio >= 0.95)
        for batch in ([] if self.args.data_only else self.args.batch):
            for model in self.args.models:
                key = f"{model}/b{batch}"
                for task, need in (("train", TRAIN_VS_TORCH.get(model, 1.0)), ("infer", 1.0)):
                    if task not in self.args.tasks:
                        continue
                    r = _ratio(self.ips(f"{key}/{task}/zoo/default"), self.ips(f"{key}/{task}/torch"))
                    row(f"{model} b{batch} {task}: ours / torch >= {need}", _fmt(r), None if r is None else r >= need)
                if "train" in self.args.tasks:
                    r = _ratio(self.ips(f"{key}/train/zoo/default"), self.ips(f"{key}/train/mindcv"))
                    row(f"{model} b{batch} train: ours / MindCV >= 1.5", _fmt(r), None if r is None else r >= 1.5)
                    g = self.gflops(key, "train", f"{key}/train/zoo/default")
                    need = 0.70 if model == "vgg19" else 0.60
                    frac = g / self.peak if g and self.peak else None
                    row(f"{model} b{batch} train: >= {need:.0%} of matmul peak",
                        f"{frac:.0%}" if frac else "—", None if frac is None else frac >= need)
                    ours, torch_rss = (self.get(f"{key}/train/zoo/default", "peak_rss_mb"),
                                       self.get(f"{key}/train/torch", "peak_rss_mb"))
                    r = _ratio(ours, torch_rss)
                    row(f"{model} b{batch} train: peak RSS ours / torch <= 1.1", _fmt(r), None if r is None else
                        r <= 1.1)
                for task in self.args.tasks:
                    warm = self.get(f"{key}/{task}/zoo/cache_warm", "compile_est_s")
                    row(f"{model} b{batch} {task}: warm-cache compile <= 2 s", _fmt(warm, 1),
                        None if warm is None else warm <= 2.0)
        if not self.args.skip_data:
            for split in ("train", "eval"):
                r = _ratio(self.get(f"data/{split}/zoo", "imgs_per_s"), self.get(f"data/{split}/torch", "imgs_per_s"))
                row(f"data pipeline {split}: zoo / torch >= 2.5", _fmt(r), None if r is None else r >= 2.5)
        out.append("")
        return out


def section_name(args):
    """The RESULTS.md section a run writes: ``--section``, else quick, data (``--data-only``) or full."""
    return args.section or ("quick" if args.quick else "data" if getattr(args, "data_only", False) else "full")


def write_results(markdown, path, mode):
    path = Path(path)
    text = path.read_text(encoding="utf-8") if path.is_file() else "# Benchmark and demo results\n"
    begin, end = f"<!-- bench:{mode}:begin -->", f"<!-- bench:{mode}:end -->"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        tail = rest.split(end, 1)[1]
        text = head + markdown.rstrip("\n") + tail
    else:
        text = text.rstrip("\n") + "\n\n" + markdown
    path.write_text(text, encoding="utf-8")
