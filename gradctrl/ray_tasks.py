"""Shards of a command's work as Ray tasks (``prepare_data.py --ray``): Ray, an optional extra
(``pip install '.[ray]'``), places them on a cluster's nodes, one GPU each where the cluster has GPUs, and
reruns a task whose worker died (``max_retries``).

A task runs the command's own code for one shard (``--shard K/N`` of the one-process command) in the driver's
folder, so every node must see the driver's folder and the files it names at the same paths (a shared file
system, as for ``--shard`` under a Slurm array). Without ADDRESS, Ray runs on this machine: a local instance
with no dashboard and one CPU per task, at most as many CPUs as this machine has.
"""
import os
import re
import socket
import threading
import time
from pathlib import Path

from stylegan2.errors import InputError

from .errors import UserError

INSTALL = "pip install 'gradctrl-tf[ray]' (in a checkout: pip install -e '.[ray]')"
MAX_RETRIES = 3
PROBE_SECONDS = 5.0
# Tests only: a marker file's path. Task 0's first attempt exits (as if killed) once its kill_when file exists,
# leaving the marker so the retry runs through.
KILL_HOOK = "GRADCTRL_TEST_KILL_RAY_TASK"


def import_ray():
    """The ray module; UserError (one line) saying how to install it when it is missing."""
    try:
        import ray  # an optional extra: imported only when --ray is given
    except ImportError:
        raise UserError(f"--ray needs Ray, an optional extra that is not installed: {INSTALL}") from None
    return ray


def check_address(address):
    """UserError (one line) unless ``address`` ('auto', host:port or ray://host:port) is well-formed and, but for
    'auto', something answers there within :data:`PROBE_SECONDS` (ray.init would wait minutes)."""
    if address == "auto":
        return
    match = re.fullmatch(r"(?:ray://)?([^\s:/]+):(\d{1,5})", address)
    if match is None:
        raise UserError(f"--ray {address!r} is not a Ray address: give host:port (the head's GCS, e.g. "
                        "10.0.0.1:6379), ray://host:10001, auto, or nothing for a Ray instance on this machine")
    try:
        with socket.create_connection((match.group(1), int(match.group(2))), timeout=PROBE_SECONDS):
            pass
    except OSError as e:
        raise UserError(f"--ray {address}: nothing answers there ({e.strerror or e}): start the cluster's head "
                        "(ray start --head) or check the address") from None


def start_ray(address, num_cpus):
    """Connect to the Ray cluster at ``address`` (None: start one on this machine with ``num_cpus`` CPUs and no
    dashboard) -> the ray module. The workers import this package from the same folder as this process."""
    ray = import_ray()
    code = [str(Path(__file__).resolve().parents[1])]
    options = dict(include_dashboard=False, logging_level="ERROR", job_config=ray.job_config.JobConfig(
        code_search_path=code))
    if address is None:
        ray.init(num_cpus=num_cpus, **options)
        return ray
    check_address(address)
    if address.startswith("ray://"):
        options.pop("job_config")  # a Ray Client session runs the workers' code from their own install
    try:
        ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise UserError(f"--ray {address}: cannot join that Ray cluster ({str(e).splitlines()[0]}): check the "
                        "address, or start one with ray start --head") from None
    return ray


def cluster_slots(ray):
    """How many tasks the cluster runs at once, and the GPUs each takes -> (slots, num_gpus per task)."""
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    return (gpus, 1) if gpus else (max(int(resources.get("CPU", 1)), 1), 0)


def run_tasks(address, work, args_of, count=None, most=None, kill_when=None):
    """Run ``work(*args_of(k, n))`` for k in 0..n-1 as Ray tasks on the cluster at ``address`` (None: this
    machine) and wait for all of them.

    work: a module-level function (Ray imports it by name on the workers) that raises InputError for bad input;
    n: ``count``, else as many as the cluster runs at once, at most ``most``; kill_when: tests only, see
    :data:`KILL_HOOK`. -> n. A task whose worker dies is rerun (up to :data:`MAX_RETRIES` times); bad input in
    a task, or a task that fails for good, is a UserError (one line)."""
    local_cpus = len(os.sched_getaffinity(0))
    ray = start_ray(address, min(count or local_cpus, local_cpus))
    try:
        slots, num_gpus = cluster_slots(ray)
        n = count or max(min(slots, most or slots), 1)
        task = ray.remote(num_cpus=1, num_gpus=num_gpus, max_retries=MAX_RETRIES)(_run_task)
        marker = os.environ.get(KILL_HOOK)
        refs = [task.remote(work, args_of(k, n), os.getcwd(),
                            (str(kill_when), marker) if marker and kill_when is not None and k == 0 else None)
                for k in range(n)]
        try:
            errors = ray.get(refs)
        except ray.exceptions.RayError as e:
            raise UserError(f"a Ray task failed for good ({type(e).__name__}, after {MAX_RETRIES} reruns): see "
                            "the log above; rerunning the command keeps the finished work") from None
    finally:
        ray.shutdown()
    for k, error in enumerate(errors):
        if error is not None:
            raise UserError(f"Ray task {k}/{n}: {error}")
    return n


def _run_task(work, args, cwd, kill):
    """A Ray task: ``work(*args)`` in the driver's folder ``cwd`` -> None, or the one-line message of its bad
    input. kill: None, or (path, marker) for :data:`KILL_HOOK`."""
    try:
        os.chdir(cwd)
    except OSError:
        return (f"the driver's folder '{cwd}' is missing on this node: run from a folder every node sees at the "
                "same path (a shared file system)")
    if kill is not None and not os.path.exists(kill[1]):
        threading.Thread(target=_exit_once_there, args=kill, daemon=True).start()
    try:
        work(*args)
    except InputError as e:
        return str(e)
    return None


def _exit_once_there(path, marker):
    """Tests: leave ``marker`` and end this worker process abruptly once ``path`` exists (a killed task)."""
    while not os.path.exists(path):
        time.sleep(0.01)
    Path(marker).touch()
    os._exit(1)
