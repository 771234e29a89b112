"""A command's work as Ray tasks (``prepare_data.py --ray``, ``evaluate.py --ray``): Ray, an optional extra
(``pip install '.[ray]'``), places them on a cluster's nodes, one GPU each where the cluster has GPUs, and
reruns a task whose worker died (``max_retries``).

A task runs the command's own code for its share (prepare_data: one shard, ``--shard K/N`` of the one-process
command, written to the parts folder; evaluate: the rendering and scoring of one block of held-out latents,
returned to the driver) in the driver's folder, so every node must see the driver's folder and the files it
names at the same paths (a shared file system, as for ``--shard`` under a Slurm array). Without ADDRESS, Ray
runs on this machine: a local instance with no dashboard and one CPU per task, at most as many CPUs as this
machine has.
"""
import contextlib
import os
import re
import socket
import threading
import time
from pathlib import Path

from stylegan2.errors import InputError

from .errors import UserError
from .options import check_int

INSTALL = "pip install 'gradctrl-tf[ray]' (in a checkout: pip install -e '.[ray]')"
MAX_RETRIES = 3
PROBE_SECONDS = 5.0
# Tests only: a marker file's path. Task 0's first attempt exits (as if killed) once its kill_when file exists,
# leaving the marker so the retry runs through.
KILL_HOOK = "GRADCTRL_TEST_KILL_RAY_TASK"
# kill_when for tasks that leave no file behind to wait for (they return their results): the folder a task runs
# in, so the kill comes as task 0 starts
KILL_AT_START = "."


def add_flags(parser, runs, count):
    """Add ``--ray [ADDRESS]`` and ``--ray_tasks N`` to the argparse ``parser``: ``runs`` says what runs as Ray tasks
    (and what the driver then does), ``count`` what N counts."""
    parser.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                        help=f"{runs}: on the Ray cluster at ADDRESS (host:port, ray://host:port or auto), or without "
                             "ADDRESS on this machine; one GPU per task where the cluster has GPUs; needs pip install "
                             "'.[ray]' (docs/distributed.md)")
    parser.add_argument("--ray_tasks", type=int, metavar="N",
                        help=f"with --ray: {count} (default: as many as the cluster runs at once)")


def check_flags(address, count, instead=""):
    """UserError (one line) when ``--ray_tasks`` (``count``) is given without ``--ray`` (``address``; ``instead``:
    the fix's alternative, e.g. ", or use --shard K/N") or is not a positive integer."""
    if count is None:
        return
    if address is None:
        raise UserError(f"--ray_tasks applies to --ray only: add --ray{instead}")
    check_int(count, "--ray_tasks")


def without_flags(argv):
    """The command line ``argv`` [str] without ``--ray [ADDRESS]`` and ``--ray_tasks N`` (also as --flag=value, or
    abbreviated as argparse allows), which choose where the work runs and not its result -> [str]."""
    kept, tokens = [], iter(range(len(argv)))
    for i in tokens:
        name, equals, _ = argv[i].partition("=")
        if name == "--ray" or (len(name) > len("--ray") and "--ray_tasks".startswith(name)):
            takes_value = name != "--ray" or (i + 1 < len(argv) and not argv[i + 1].startswith("-"))
            if not equals and takes_value:
                next(tokens, None)
            continue
        kept.append(argv[i])
    return kept


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
        try:
            ray.init(num_cpus=num_cpus, **options)
        except Exception as e:  # Ray raises a bare Exception when its local node does not start in time
            raise UserError(f"--ray: the local Ray instance did not start ({str(e).splitlines()[0]}): rerun when "
                            "the machine is less loaded, or start one with ray start --head and pass --ray auto") from None
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


@contextlib.contextmanager
def session(address, count=None):
    """``with session(address, count) as ray:`` connected to the Ray cluster at ``address`` (None: a Ray instance
    started on this machine with ``count`` CPUs, at most as many as it has; None: all of them), shut down at
    the end; run tasks in it with :func:`run_on`."""
    local_cpus = len(os.sched_getaffinity(0))
    ray = start_ray(address, min(count or local_cpus, local_cpus))
    try:
        yield ray
    finally:
        ray.shutdown()


def run_tasks(address, work, args_of, count=None, most=None, kill_when=None):
    """:func:`run_on` in a :func:`session` of its own at ``address`` (None: this machine) -> [work's results]."""
    with session(address, count) as ray:
        return run_on(ray, work, args_of, count, most, kill_when)


def run_on(ray, work, args_of, count=None, most=None, kill_when=None):
    """Run ``work(*args_of(k, n))`` for k in 0..n-1 as Ray tasks (``ray``: a :func:`session`'s), wait for all of
    them -> [what each returned], in task order.

    work: a module-level function (Ray imports it by name on the workers) that raises InputError for bad input;
    n: ``count``, else as many as the cluster runs at once, at most ``most``; kill_when: tests only, see
    :data:`KILL_HOOK`. A task whose worker dies is rerun (up to :data:`MAX_RETRIES` times); bad input in a task,
    or a task that fails for good, is a UserError (one line)."""
    slots, num_gpus = cluster_slots(ray)
    n = count or max(min(slots, most or slots), 1)
    task = ray.remote(num_cpus=1, num_gpus=num_gpus, max_retries=MAX_RETRIES)(_run_task)
    marker = os.environ.get(KILL_HOOK)
    refs = [task.remote(work, args_of(k, n), os.getcwd(),
                        (str(kill_when), marker) if marker and kill_when is not None and k == 0 else None)
            for k in range(n)]
    try:
        outcomes = ray.get(refs)
    except ray.exceptions.RayError as e:
        raise UserError(f"a Ray task failed for good ({type(e).__name__}, after {MAX_RETRIES} reruns): see "
                        "the log above; rerunning the command keeps the finished work") from None
    for k, (_, error) in enumerate(outcomes):
        if error is not None:
            raise UserError(f"Ray task {k}/{n}: {error}")
    return [result for result, _ in outcomes]


def _run_task(work, args, cwd, kill):
    """A Ray task: ``work(*args)`` in the driver's folder ``cwd`` -> (its result, None), or (None, the one-line
    message of its bad input). kill: None, or (path, marker) for :data:`KILL_HOOK`."""
    try:
        os.chdir(cwd)
    except OSError:
        return None, (f"the driver's folder '{cwd}' is missing on this node: run from a folder every node sees at "
                      "the same path (a shared file system)")
    if kill is not None and not os.path.exists(kill[1]):
        threading.Thread(target=_exit_once_there, args=kill, daemon=True).start()
    try:
        return work(*args), None
    except InputError as e:
        return None, str(e)


def _exit_once_there(path, marker):
    """Tests: leave ``marker`` and end this worker process abruptly once ``path`` exists (a killed task)."""
    while not os.path.exists(path):
        time.sleep(0.01)
    Path(marker).touch()
    os._exit(1)
