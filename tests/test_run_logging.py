"""One logger per run, closed at its end; one progress/ETA line whose ETA leaves out the first step."""
import json
import re
import subprocess
import sys
import textwrap

from conftest import ROOT

from model_zoo.engine.progress import NO_ETA, Progress

VGG = ROOT / "model_zoo" / "vgg19"
ARGS = ["--config_path=imagenet2012_config.yaml", "--arch=vgg11_bn", "--image_size=32,32", "--num_classes=3",
        "--device_target=CPU", "--batch_size=4", "--lr=0.01", "--max_epoch=1", "--log_interval=1"]


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_eta_leaves_out_the_first_step():
    clock = Clock()
    progress = Progress(10, clock=clock)
    clock.now += 300.0                                  # the first step: graph compile + pipeline start
    assert progress.measure(1, 32) == f"first step 300.0 s ETA {NO_ETA}"
    clock.now += 2.0                                    # then 2 s per step of 32 images
    assert progress.measure(2, 64) == "16.0 img/s ETA 0:00:16"
    clock.now += 4.0
    assert progress.measure(4, 128) == "16.0 img/s ETA 0:00:12"  # 6 steps left x 2 s, not x (306 s / 4)
    clock.now += 12.0
    assert progress.measure(10, 320) == "16.0 img/s ETA 0:00:00"


def test_two_runs_in_one_process_each_write_their_own_log_and_close_it(tiny_folder, tmp_path):
    """trainer.train twice, then evaluate, in one process under one run stamp (one logger name): each log holds its
    own run only, and after train() / evaluate() return no log file is open and the logger has no handlers."""
    script = textwrap.dedent(f"""
        import glob, json, logging, os, sys
        import model_zoo
        from model_zoo.engine import cli, evaluate, trainer

        opened = []
        for name in ("first", "second", "eval"):
            if name == "eval":
                checkpoint = glob.glob("{tmp_path}/first/**/*.ckpt", recursive=True)[0]
                recipe, cfg = cli.resolve("eval", "vgg19", {ARGS!r} + [
                    "--data_dir={tiny_folder}", "--pre_trained=" + checkpoint, "--log_path={tmp_path}/eval"])
                evaluate.evaluate(recipe, cfg)
            else:
                recipe, cfg = cli.resolve("train", "vgg19", {ARGS!r} + [
                    "--data_dir={tiny_folder}", "--ckpt_path={tmp_path}/" + name])
                trainer.train(recipe, cfg)
            fds = os.listdir("/proc/self/fd")  # one of them is the listing's own, closed by now
            opened.append([link for fd in fds if os.path.exists(link := f"/proc/self/fd/{{fd}}")
                           and os.readlink(link).endswith(".log")])
        loggers = [name for name, logger in logging.Logger.manager.loggerDict.items()
                   if name.startswith("model_zoo.run.") and isinstance(logger, logging.Logger)]
        print("RESULT", json.dumps({{"open_logs": opened, "run_loggers": loggers}}))
    """)
    env = dict(__import__("os").environ, MODEL_ZOO_RUN_STAMP="fixed_stamp")
    result = subprocess.run([sys.executable, "-c", script], cwd=VGG, capture_output=True, text=True, timeout=900,
                            env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.split("RESULT ", 1)[1])
    assert report == {"open_logs": [[], [], []], "run_loggers": []}
    eval_log = next((tmp_path / "eval").rglob("*.log")).read_text()
    assert "start network train" not in eval_log and "load model" in eval_log
    batches = re.findall(r"eval batch (\d)/3 (.*)$", eval_log, re.M)  # 9 val images in batches of 4
    assert batches[0][0] == "1" and re.fullmatch(rf"first step [\d.]+ s ETA {re.escape(NO_ETA)}", batches[0][1])
    assert batches[1][0] == "2" and re.fullmatch(r"[\d.]+ img/s ETA 0:00:\d\d", batches[1][1]), batches
    logs = {name: (tmp_path / name / "fixed_stamp" / "fixed_stamp_rank_0.log").read_text() for name in
            ("first", "second")}
    for name, text in logs.items():
        assert text.count("start network train...") == 1, text
        assert f"outputs in {tmp_path / name}" in text
        other = "second" if name == "first" else "first"
        assert str(tmp_path / other) not in text
        steps = re.findall(r"epoch 1/1 step (\d+)/6 loss [\d.]+ (.*)$", text, re.M)
        assert steps[0][0] == "1" and re.fullmatch(rf"first step [\d.]+ s ETA {re.escape(NO_ETA)}", steps[0][1])
        assert [s for s, _ in steps] == ["1", "2", "3", "4", "5"]  # step 6 ends the epoch: the epoch lines say it
        for _, tail in steps[1:]:
            assert re.fullmatch(r"[\d.]+ img/s ETA 0:00:\d\d", tail), tail


def test_library_code_has_no_bare_print():
    """The engine writes through the run's logger or :mod:`model_zoo.engine.console` (say / note), never print."""
    import ast

    engine = ROOT / "model_zoo" / "engine"
    found = [f"{path.relative_to(ROOT)}:{node.lineno}" for path in sorted(engine.rglob("*.py"))
             for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"]
    assert found == []
