"""Training across machines (stylegan2.cluster, ``python -m stylegan2 train`` under TF_CONFIG): two worker
processes on 127.0.0.1 train as one process does at the same global batch, only the chief writes the run
folder, a killed job resumes, and a bad TF_CONFIG is one line and exit 2."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from stylegan2.cluster import read_tf_config
from stylegan2.errors import InputError
from stylegan2.training import Trainer, TrainingOptions

from conftest import ROOT
from test_stylegan2_training import TINY, discs, run_cli, tiny_flags

# R1 every 2nd minibatch; minibatch stddev off: its groups form within each replica's slice (docs/training.md),
# the one difference from one process beyond rounding.
OPTIONS = dict(TINY, mbstd_group_size=1, r1_interval=2, precision="float32")
ENV = dict(os.environ, TF_DETERMINISTIC_OPS="1", TF_CPP_MIN_LOG_LEVEL="3")
WAIT = 600  # seconds any worker process may take before the test gives up on it


def free_ports(n):
    """n TCP ports nothing listens on at the moment, on 127.0.0.1."""
    sockets = [socket.socket() for _ in range(n)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def tf_config(ports, index):
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{port}" for port in ports]},
                       "task": {"type": "worker", "index": index}})


def start_workers(ports, flags_of):
    """One ``python -m stylegan2 train`` per port with TF_CONFIG naming them all; flags_of(index) -> its flags."""
    return [subprocess.Popen([sys.executable, "-m", "stylegan2", "train", *flags_of(index)], cwd=ROOT,
                             env=dict(ENV, TF_CONFIG=tf_config(ports, index)), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for index in range(len(ports))]


def finish(workers):
    """Wait for every worker (killing all of them if one overruns) -> [(returncode, stdout, stderr)]."""
    try:
        outputs = [w.communicate(timeout=WAIT) for w in workers]
        return [(w.returncode, *output) for w, output in zip(workers, outputs)]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()


def flags(data, outdir, total_kimg, snapshot_kimg):
    return tiny_flags(data, outdir, total_kimg) + [
        item for key, value in OPTIONS.items() if key not in TINY or TINY[key] != value
        for item in (f"--{key.replace('_', '-')}", str(value))] + ["--snapshot_kimg", str(snapshot_kimg)]


def one_process(outdir, iterations):
    """Every variable, Adam slot and counter of a one-process run of the options stored in ``outdir`` (the
    chief's run) after ``iterations`` minibatches."""
    options = TrainingOptions(**json.loads((outdir / "training_options.json").read_text()))
    assert options.devices == 1 and options.mbstd_group_size == 1
    trainer = Trainer(discs(), options)
    for _ in range(iterations):
        trainer.train_iteration()
    return trainer.checkpoint_arrays()


def assert_same_state(checkpoint, expected):
    """Float32 rounding apart: the two-worker mean over 8 samples is a mean of two means over 4 (a few ulps,
    as tests/test_stylegan2_training.py's two devices), far below one Adam step (lr 0.002)."""
    with np.load(checkpoint) as saved:
        assert sorted(saved.files) == sorted(expected)
        for key, value in expected.items():
            np.testing.assert_allclose(saved[key], value, rtol=1e-5, atol=1e-5, err_msg=key)


def test_two_workers_train_as_one_process_and_only_the_chief_writes(tmp_path):
    data = tmp_path / "discs.npy"
    np.save(data, discs())
    outdirs = [tmp_path / "chief", tmp_path / "worker1"]
    # 3 minibatches of 8, one snapshot at the end: each worker takes 4 images of each minibatch.
    results = finish(start_workers(free_ports(2), lambda i: flags(data, outdirs[i], 0.024, 0.024)))
    for code, out, err in results:
        assert code == 0, err[-2000:]
    assert "the chief wrote the snapshots" in results[1][1]
    assert_same_state(outdirs[0] / "checkpoint.npz", one_process(outdirs[0], 3))
    assert not outdirs[1].exists()  # the other worker wrote nothing, not even its --out_dir
    assert sorted(p.name for p in outdirs[0].iterdir() if not p.name.startswith(".")) == [
        "checkpoint.npz", "fakes000000.png", "index.html", "log.jsonl", "network-snapshot-000000.pkl",
        "training_options.json"]
    log = [json.loads(line) for line in (outdirs[0] / "log.jsonl").read_text().splitlines()]
    assert [record["kimg"] for record in log] == pytest.approx([0.0, 0.024])


def test_a_killed_job_resumes_from_the_chiefs_checkpoint(tmp_path):
    """Both workers killed (SIGKILL) after the first training snapshot, then the whole job restarted with
    --resume: the other worker has no copy of the run (the chief sends it the options and the checkpoint),
    and the run ends where one process ends after the same minibatches."""
    data = tmp_path / "discs.npy"
    np.save(data, discs())
    outdirs = [tmp_path / "chief", tmp_path / "worker1"]
    ports = free_ports(2)
    workers = start_workers(ports, lambda i: flags(data, outdirs[i], 50, 0.008))  # a snapshot every minibatch
    log = outdirs[0] / "log.jsonl"
    try:
        deadline = time.time() + WAIT
        while time.time() < deadline and not (log.exists() and log.read_text().count("\n") >= 2) and all(
                w.poll() is None for w in workers):
            time.sleep(0.05)
        workers[1].send_signal(signal.SIGKILL)
    finally:
        for w in workers:
            w.kill()
            w.communicate()
    killed_at = json.loads(log.read_text().splitlines()[-1])["kimg"]
    assert 0 < killed_at < 0.024
    resume = ["--resume", "--total_kimg", "0.024", "--no_progress", "--peer_timeout", "300"]
    results = finish(start_workers(free_ports(2), lambda i: ["--out_dir", str(outdirs[i])] + resume))
    for code, out, err in results:
        assert code == 0, err[-2000:]
    assert not outdirs[1].exists()
    assert_same_state(outdirs[0] / "checkpoint.npz", one_process(outdirs[0], 3))
    kimgs = [json.loads(line)["kimg"] for line in log.read_text().splitlines()]
    assert kimgs == pytest.approx([0.0, 0.008, 0.016, 0.024])


def test_tf_config_is_read_as_tensorflow_defines_it():
    """A chief and two workers: the chief is task 0 (TensorFlow numbers its replicas first), the workers follow."""
    text = json.dumps({"cluster": {"worker": ["b:2", "c:3"], "chief": ["a:1"]}, "task": {"type": "worker", "index": 1}})
    cluster = read_tf_config(text)
    assert [address for _, _, address in cluster.tasks] == ["a:1", "b:2", "c:3"]
    assert (cluster.address, cluster.id, cluster.is_chief, cluster.peers) == ("c:3", 2, False, ["a:1", "b:2"])
    assert read_tf_config(text.replace('"worker", "index": 1', '"chief", "index": 0')).is_chief
    workers_only = {"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 0}}
    assert read_tf_config(json.dumps(workers_only)).is_chief
    assert read_tf_config("") is None and read_tf_config(None) is None
    for bad in ({"cluster": {"ps": ["a:1"], "worker": ["b:2"]}, "task": {"type": "worker", "index": 0}},
                {"cluster": {"worker": ["a"]}, "task": {"type": "worker", "index": 0}},
                {"cluster": {"worker": ["a:1"]}, "task": {"type": "evaluator", "index": 0}},
                {"cluster": {"worker": ["a:1"]}}):
        with pytest.raises(InputError):
            read_tf_config(json.dumps(bad))


@pytest.mark.parametrize("case, message", [
    ("malformed", "TF_CONFIG is not valid JSON"),
    ("no_cluster", "TF_CONFIG has no \"cluster\""),
    ("index", "TF_CONFIG's task index 2 is out of range: its cluster has 2 'worker' task(s)"),
    ("unreachable", "within 1 s (--peer_timeout)"),
])
def test_bad_tf_config_is_one_line_and_exit_2(tmp_path, case, message):
    data = tmp_path / "discs.npy"
    np.save(data, discs(16))
    ports = free_ports(2)
    config = {"malformed": tf_config(ports, 0)[:-1], "no_cluster": json.dumps({"task": {"type": "worker", "index": 0}}),
              "index": tf_config(ports, 2), "unreachable": tf_config(ports, 0)}[case]
    result = run_cli(*flags(data, tmp_path / "out", 0.008, 0.008), "--peer_timeout", "1",
                     env=dict(ENV, TF_CONFIG=config))
    lines = [line for line in result.stderr.splitlines() if "error:" in line]
    assert result.returncode == 2 and len(lines) == 1 and message in lines[0], result.stderr[-400:]
    if case == "unreachable":
        assert f"127.0.0.1:{ports[1]}" in lines[0]
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()


def test_bad_input_on_the_chief_stops_every_worker_with_one_line(tmp_path):
    """The chief refuses a run folder that is not empty; the other worker, waiting for the run's options,
    hears why: both exit 2 with one line, and nothing is written."""
    data = tmp_path / "discs.npy"
    np.save(data, discs(16))
    outdirs = [tmp_path / "chief", tmp_path / "worker1"]
    outdirs[0].mkdir()
    (outdirs[0] / "notes.txt").write_text("not a run")
    results = finish(start_workers(free_ports(2), lambda i: flags(data, outdirs[i], 0.008, 0.008)))
    for (code, _, err), expected in zip(results, ("is not empty", "refused the run: --out_dir")):
        lines = [line for line in err.splitlines() if "error:" in line]
        assert code == 2 and len(lines) == 1 and expected in lines[0], err[-1000:]
        assert "Traceback" not in err
    assert [p.name for p in outdirs[0].iterdir() if not p.name.startswith(".")] == ["notes.txt"]
    assert not outdirs[1].exists()
