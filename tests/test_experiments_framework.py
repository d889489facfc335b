"""The experiment framework: reruns skip finished runs and resume interrupted ones, diverged runs are
recorded and not retried, refusals are clear, jobs never outnumber the cores, --data-dir finds datasets."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from classicnets.errors import UserError


def _fw():
    from classicnets.experiments import framework

    return framework


def _tiny(monkeypatch, name: str = "tiny", *, lrs: dict[str, float] | None = None):
    """Register a throwaway experiment of three 3-step cnn3 runs on digits (removed after the test)."""
    fw = _fw()
    from classicnets.train import TrainConfig

    lrs = lrs or {"a": 0.01, "b": 0.02, "c": 0.03}

    def plan(ctx):
        return [fw.RunSpec(k, TrainConfig(model="cnn3", dataset="digits", steps=3, batch_size=32, lr=lr, threads=1),
                           label=f"run {k}") for k, lr in lrs.items()]

    def analyze(ctx, runs):
        acc = {k: r.final.get("val_acc") for k, r in runs.items()}
        status = "supported" if all(not r.diverged for r in runs.values()) else "inconclusive"
        return fw.Report(measurements={"acc": acc}, verdicts=[fw.Verdict("every run trains.", status, str(acc))])

    exp = fw.Experiment(name=name, title="tiny", reproduces="nothing", summary="tiny", plan=plan, analyze=analyze,
                        scales={s: s for s in fw.SCALES})
    monkeypatch.setitem(fw._EXPERIMENTS, name, exp)
    return exp


def _count_training(monkeypatch) -> list[tuple[str, object]]:
    """Record (run folder name, resume value) of every run the framework trains."""
    fw = _fw()
    real = fw._train_one
    calls: list[tuple[str, object]] = []

    def spy(values):
        calls.append((Path(values["out"]).name, values["resume"]))
        return real(values)

    monkeypatch.setattr(fw, "_train_one", spy)
    return calls


def test_rerun_skips_finished_runs_and_resumes_interrupted_ones(tmp_path, monkeypatch) -> None:
    fw = _fw()
    _tiny(monkeypatch)
    out = tmp_path / "exp"
    calls = _count_training(monkeypatch)
    first = fw.run_experiment("tiny", scale="smoke", out=out, verbose=False)
    assert sorted(c[0] for c in calls) == ["a", "b", "c"]
    assert first["verdicts"][0]["status"] == "supported"
    stamp_a = (out / "runs/a/result.json").stat().st_mtime_ns

    # Half-finished: run b never started, run c was killed after its last checkpoint.
    import shutil

    shutil.rmtree(out / "runs/b")
    (out / "runs/c/result.json").unlink()
    calls.clear()
    second = fw.run_experiment("tiny", scale="smoke", out=out, verbose=False)
    assert sorted(calls) == [("b", None), ("c", "")], calls  # c resumed from its checkpoint, a not touched
    assert (out / "runs/a/result.json").stat().st_mtime_ns == stamp_a
    assert second["runs"]["c"]["status"] == "finished" and (out / "runs/c/result.json").is_file()
    assert second["measurements"]["acc"]["a"] == first["measurements"]["acc"]["a"]
    calls.clear()
    fw.run_experiment("tiny", scale="smoke", out=out, verbose=False, resume=True)
    assert calls == [], "a finished experiment trains nothing on a rerun"


def test_an_interrupted_sweep_stops_with_a_hint_and_continues(tmp_path, monkeypatch) -> None:
    fw = _fw()
    _tiny(monkeypatch)
    real = fw._train_one

    def stop_at_b(values):
        if Path(values["out"]).name == "b":
            return {"status": "interrupted", "message": "stopped by SIGINT"}
        return real(values)

    monkeypatch.setattr(fw, "_train_one", stop_at_b)
    out = tmp_path / "exp"
    with pytest.raises(fw.ExperimentInterrupted, match="run the same command again"):
        fw.run_experiment("tiny", scale="smoke", out=out, verbose=False)
    state = json.loads((out / "experiment.json").read_text())
    assert state["runs"]["a"]["status"] == "finished"
    assert not (out / "results.json").exists()
    monkeypatch.setattr(fw, "_train_one", real)
    calls = _count_training(monkeypatch)
    fw.run_experiment("tiny", scale="smoke", out=out, verbose=False)
    assert sorted(c[0] for c in calls) == ["b", "c"], calls


def test_diverged_run_is_recorded_and_not_retried(tmp_path, monkeypatch) -> None:
    fw = _fw()
    _tiny(monkeypatch, lrs={"ok": 0.01, "boom": 1e9})
    out = tmp_path / "exp"
    r = fw.run_experiment("tiny", scale="smoke", out=out, verbose=False)
    assert r["runs"]["boom"]["status"] == "diverged", r["runs"]["boom"]
    assert "the loss became" in r["runs"]["boom"]["message"], r["runs"]["boom"]["message"]
    assert r["verdicts"][0]["status"] == "inconclusive"
    assert "| boom | cnn3 | diverged |" in (out / "summary.md").read_text()
    calls = _count_training(monkeypatch)
    fw.run_experiment("tiny", scale="smoke", out=out, verbose=False)
    assert calls == [], calls


def test_refusals(tmp_path, monkeypatch) -> None:
    fw = _fw()
    _tiny(monkeypatch)
    out = tmp_path / "exp"
    with pytest.raises(UserError, match="holds no tiny experiment"):
        fw.run_experiment("tiny", scale="smoke", out=out, resume=True, verbose=False)
    fw.run_experiment("tiny", scale="smoke", out=out, verbose=False)
    with pytest.raises(UserError, match="holds the tiny experiment at scale smoke"):
        fw.run_experiment("tiny", scale="small", out=out, verbose=False)
    _tiny(monkeypatch, lrs={"a": 0.5, "b": 0.02, "c": 0.03})  # the plan changed under the same folder
    with pytest.raises(UserError, match=r"runs/a was trained with another configuration: lr differs"):
        fw.run_experiment("tiny", scale="smoke", out=out, verbose=False)
    with pytest.raises(UserError, match="unknown experiment 'tinyy'.*Did you mean 'tiny'"):
        fw.run_experiment("tinyy", scale="smoke", out=out, verbose=False)
    with pytest.raises(UserError, match="--train-sizes does not apply to the tiny experiment"):
        fw.run_experiment("tiny", scale="smoke", out=out, verbose=False, train_sizes=[10])
    with pytest.raises(UserError, match="give its files with --data-dir"):
        fw.run_experiment("degradation", scale="small", out=tmp_path / "d", verbose=False)


def test_plan_jobs_never_oversubscribes() -> None:
    plan_jobs = _fw().plan_jobs
    assert plan_jobs(1, 5, cores=2) == (1, None)
    assert plan_jobs(2, 5, cores=2) == (2, 1)
    assert plan_jobs(8, 5, cores=2) == (2, 1)
    assert plan_jobs(2, 1, cores=2) == (1, None)  # one run left: one process with every core
    assert plan_jobs(3, 10, cores=8) == (3, 2)
    with pytest.raises(UserError):
        plan_jobs(0, 3)


def test_find_data(tmp_path) -> None:
    find = _fw().find_data
    (tmp_path / "cifar10-jpg.tar.gz").write_bytes(b"")
    (tmp_path / "mnist").mkdir()
    (tmp_path / "17flowers.tgz").write_bytes(b"")
    assert find("cifar10", tmp_path) == str(tmp_path / "cifar10-jpg.tar.gz")
    assert find("mnist", tmp_path) == str(tmp_path / "mnist")
    assert find("flowers17", tmp_path) == str(tmp_path / "17flowers.tgz")
    assert find("cifar10", tmp_path / "cifar10-jpg.tar.gz") == str(tmp_path / "cifar10-jpg.tar.gz")
    assert find("digits", None) is None
    (tmp_path / "cifar-10-python.tar.xz").write_bytes(b"")  # the lossless originals win over the JPEG copy
    assert find("cifar10", tmp_path) == str(tmp_path / "cifar-10-python.tar.xz")


@pytest.mark.slow
def test_two_jobs_train_in_two_processes(tmp_path, monkeypatch) -> None:
    fw = _fw()
    _tiny(monkeypatch)
    monkeypatch.setattr(fw, "usable_cores", lambda: 2)
    r = fw.run_experiment("tiny", scale="smoke", out=tmp_path / "exp", jobs=2, verbose=False)
    assert all(r["runs"][k]["status"] == "finished" for k in "abc")
    threads = [json.loads((tmp_path / f"exp/runs/{k}/env.json").read_text())["torch_threads"] for k in "abc"]
    assert threads == [1, 1, 1], threads


def test_experiment_list_command(capsys) -> None:
    from classicnets.cli import main

    assert main(["experiment", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("degradation", "batchnorm", "gap"):
        assert f"{name}:" in out
    assert "--train-sizes" in out
    assert main(["experiment", "list", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["name"] for r in rows} >= {"degradation", "batchnorm", "gap"}
    assert all(set(r["scales"]) == {"smoke", "small", "medium", "paper"} for r in rows)


def test_experiment_run_refuses_foreign_option(capsys) -> None:
    from classicnets.cli import main

    assert main(["experiment", "run", "gap", "--scale", "smoke", "--train-sizes", "100"]) == 2
    assert "--train-sizes does not apply to the gap experiment" in capsys.readouterr().err


_LONG_SWEEP = '''
import sys

import torch

torch.set_num_threads(1)
from classicnets.experiments import framework as fw
from classicnets.train import TrainConfig


def plan(ctx):
    return [fw.RunSpec(k, TrainConfig(model="cnn3", dataset="digits", steps=10**6, batch_size=32, lr=0.01,
                                      threads=1, ckpt_every_steps=10**6)) for k in "abc"]


def analyze(ctx, runs):
    return fw.Report(measurements={}, verdicts=[])


fw._EXPERIMENTS["long"] = fw.Experiment(name="long", title="long", reproduces="-", summary="-", plan=plan,
                                        analyze=analyze, scales={s: s for s in fw.SCALES})
if __name__ == "__main__":
    try:
        fw.run_experiment("long", scale="smoke", out=sys.argv[1], jobs=2)
    except fw.ExperimentInterrupted as e:
        print(e.hint, flush=True)
        sys.exit(130)
'''


def _workers(pid: int) -> set[int]:
    """The multiprocessing workers among the children of ``pid`` (not its resource tracker)."""
    kids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == pid and b"multiprocessing.spawn" in cmdline:
            kids.add(int(stat.parent.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return text.rsplit(")", 1)[1].split()[0] != "Z"


def test_a_signal_to_the_parent_stops_a_parallel_sweep_with_checkpoints(tmp_path) -> None:
    """SIGINT to the sweep's parent alone (as `kill -INT`, not a terminal's Ctrl-C to the whole group)
    must stop its workers promptly, each running run with a checkpoint, and leave no worker behind."""
    import signal
    import subprocess
    import sys
    import time

    import torch

    if _fw().usable_cores() < 2 or not Path("/proc/self/stat").exists():
        pytest.skip("needs 2 cores and Linux's /proc to run two workers and list them")
    script = tmp_path / "long_sweep.py"
    script.write_text(_LONG_SWEEP)
    out = tmp_path / "exp"
    proc = subprocess.Popen([sys.executable, str(script), str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while not all((out / "runs" / k / "metrics.jsonl").exists() for k in "ab"):
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, "the two runs did not start within 120 s"
            time.sleep(0.2)
        time.sleep(1.0)  # both inside their training loops
        workers = _workers(proc.pid)
        assert len(workers) == 2, workers
        proc.send_signal(signal.SIGINT)
        log, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:  # a failed stop: leave no orphan training beside the rest of the suite
            proc.kill()
            for w in workers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(w, signal.SIGKILL)
    assert proc.returncode == 130, log
    assert "run the same command again" in log, log
    runs = json.loads((out / "experiment.json").read_text())["runs"]
    for k in "ab":  # the running runs stopped on the signal, each with its checkpoint at that step
        assert runs[k]["status"] == "interrupted" and "checkpoint written" in runs[k]["message"], runs
        step = int(runs[k]["message"].split(" at step ")[1].split(";")[0])
        ckpt = torch.load(out / "runs" / k / "checkpoints/last.pt", weights_only=True)
        assert ckpt["step"] == step > 0, (k, ckpt["step"], step)
    assert runs.get("c", {}).get("status", "interrupted") == "interrupted", runs  # queued: never started
    assert not (out / "runs/c/checkpoints").exists()
    deadline = time.monotonic() + 10
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(w) for w in workers), "workers left running after the sweep stopped"


def test_text_table_from_records_makes_cells_from_records() -> None:
    from classicnets.analysis import TextTable

    t = TextTable.from_records("T", [("run", "{run}"), ("err %", "{err:.2f}"), ("err %", lambda r: f"{r['err']:+.1f}")],
                               [{"run": "a", "err": 1.234}, {"run": "b", "err": 10.0}], right=[1, 2])
    assert t.columns == ["run", "err %", "err %"] and t.cells == [["a", "1.23", "+1.2"], ["b", "10.00", "+10.0"]]
    assert t.records == [{"run": "a", "err": 1.234}, {"run": "b", "err": 10.0}] and t.right == {1, 2}
    kept = TextTable.from_records("T", {"k": "{k}"}, [{"k": 1}], records=[])
    assert kept.records == [] and json.loads(kept.to_json())["rows"] == [{"k": "1"}]


def test_scale_notes_fill_in_the_measurements() -> None:
    from classicnets.experiments import framework as fw

    exp = fw.get_experiment("lesion")
    notes = fw.scale_notes(exp, "small", {"depth": 56, "eval_data": "2,000 images"})
    assert notes == ["Paper scale: ResNet-110 (54 blocks) trained for 64k iterations, all 10,000 test images; this "
                     "small scale uses depth 56 and 2,000 images."]
    assert fw.scale_notes(exp, "paper", {}) == []


def test_an_experiment_module_declares_at_its_top_and_is_bound_at_registration() -> None:
    from classicnets.experiments import degradation
    from classicnets.experiments import framework as fw

    assert degradation.EXPERIMENT.plan is None and degradation.EXPERIMENT.analyze is None
    exp = fw.get_experiment("degradation")
    assert exp.plan is degradation.plan and exp.analyze is degradation.analyze
    with pytest.raises(RuntimeError, match="no plan or analyze"):
        fw.register_experiment(fw.Experiment(name="unbound", title="-", reproduces="-", summary="-",
                                             scales={s: s for s in fw.SCALES}))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_sweep_worker_stops_when_its_parent_is_killed_outright(tmp_path) -> None:
    """SIGKILL leaves no relay: the kernel's parent-death signal stops the orphan (it no longer trains on)."""
    here = Path(__file__).resolve().parent
    code = (f"import sys, time, multiprocessing as mp\nsys.path.insert(0, {str(here)!r})\n"
            "from concurrent.futures import ProcessPoolExecutor\n"
            "from classicnets.experiments.framework import _worker_init\nimport sweep_orphan_task\n"
            "pool = ProcessPoolExecutor(1, mp_context=mp.get_context('spawn'), initializer=_worker_init)\n"
            f"pool.submit(sweep_orphan_task.wait_for_stop, {str(tmp_path)!r})\ntime.sleep(120)\n")
    parent = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        end = time.time() + 60
        while not (tmp_path / "pid").exists() and time.time() < end:
            time.sleep(0.05)
        worker = int((tmp_path / "pid").read_text())
    finally:
        parent.kill()
        parent.wait()
    end = time.time() + 20
    while _alive(worker) and time.time() < end:
        time.sleep(0.1)
    alive = _alive(worker)
    if alive:
        os.kill(worker, signal.SIGKILL)
    assert not alive, "the orphaned worker kept running after its parent was killed"
    assert (tmp_path / "stopped").read_text() == str(int(signal.SIGTERM))
