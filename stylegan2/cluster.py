"""Training across machines: the cluster TensorFlow's ``TF_CONFIG`` describes, checked before TensorFlow starts,
and the few collective steps :func:`stylegan2.training.train` needs around ``MultiWorkerMirroredStrategy``.

``TF_CONFIG`` is TensorFlow's JSON (https://www.tensorflow.org/guide/distributed_training#TF_CONFIG)::

    {"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", "index": 0}}

with an optional ``"chief"`` job of one address. The chief (the ``chief`` task, else worker 0) is the one
task that writes the run folder; replica 0 of the strategy lives on it (TensorFlow numbers the chief's
replicas first), which is how :func:`broadcast` sends the chief's bytes to every worker.
"""
import dataclasses
import json
import re
import socket
import time

import numpy as np
import tensorflow as tf

from .errors import InputError

TASK_TYPES = ("chief", "worker")


@dataclasses.dataclass
class Cluster:
    """One task's view of a TF_CONFIG cluster: ``jobs`` {'chief' | 'worker': [host:port, ...]}, this task's
    ``task_type`` and ``task_index``; ``peer_timeout``: seconds to wait for every other task to listen."""
    jobs: dict
    task_type: str
    task_index: int
    peer_timeout: float = 120.0

    @property
    def tasks(self):
        """[(type, index, address)] of every task, the chief's first (TensorFlow's order of replicas)."""
        return [(job, index, address) for job in TASK_TYPES for index, address in enumerate(self.jobs.get(job, []))]

    @property
    def address(self):
        """This task's host:port."""
        return self.jobs[self.task_type][self.task_index]

    @property
    def id(self):
        """This task's place in :attr:`tasks` (0: the chief)."""
        return [(job, index) for job, index, _ in self.tasks].index((self.task_type, self.task_index))

    @property
    def is_chief(self):
        """Whether this task writes the run folder: the 'chief' task, or worker 0 where there is none."""
        return self.id == 0

    def describe(self, task_id):
        """'worker 1 (host:port)' for the task of id ``task_id`` (:attr:`id`)."""
        job, index, address = self.tasks[task_id]
        return f"{job} {index} ({address})"

    @property
    def peers(self):
        """host:port of every other task."""
        return [address for job, index, address in self.tasks if (job, index) != (self.task_type, self.task_index)]


def read_tf_config(text, peer_timeout=120.0):
    """The :class:`Cluster` of TF_CONFIG ``text`` (None for None or an empty string); InputError (one line) for
    malformed JSON, a missing or empty cluster, a task type or index not in it, an address not host:port, or
    a job MultiWorkerMirroredStrategy does not train with (ps, evaluator)."""
    if not text or not text.strip():
        return None
    fix = ("set it as TensorFlow defines it, e.g. TF_CONFIG='{\"cluster\": {\"worker\": [\"host1:12345\", "
           "\"host2:12345\"]}, \"task\": {\"type\": \"worker\", \"index\": 0}}'")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"TF_CONFIG is not valid JSON ({e.msg} at character {e.pos}): {fix}") from None
    if not isinstance(config, dict) or not isinstance(config.get("cluster"), dict) or not config["cluster"]:
        raise InputError(f"TF_CONFIG has no \"cluster\" (the address of every task): {fix}")
    jobs = config["cluster"]
    for job, addresses in jobs.items():
        if job not in TASK_TYPES:
            raise InputError(f"TF_CONFIG's cluster has a {job!r} job: multi-worker training (MultiWorkerMirroredStrategy)"
                             " takes only 'chief' and 'worker' tasks: remove it")
        if not isinstance(addresses, list) or not addresses or not all(
                isinstance(a, str) and re.fullmatch(r"[^\s:]+:\d{1,5}", a) for a in addresses):
            raise InputError(f"TF_CONFIG's cluster {job!r} must be a list of 'host:port' addresses, got {addresses!r}")
    if len(jobs.get("chief", [])) > 1:
        raise InputError(f"TF_CONFIG's cluster has {len(jobs['chief'])} chiefs: a cluster has at most one")
    task = config.get("task")
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise InputError(f"TF_CONFIG has no \"task\" with a \"type\" and an \"index\" (which task this process is): {fix}")
    task_type, index = task["type"], task["index"]
    if task_type not in jobs:
        raise InputError(f"TF_CONFIG's task type {task_type!r} is not in its cluster (which has "
                         f"{', '.join(map(repr, jobs))}): set task.type to one of them")
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(jobs[task_type]):
        raise InputError(f"TF_CONFIG's task index {index!r} is out of range: its cluster has {len(jobs[task_type])} "
                         f"{task_type!r} task(s), so the index must be in 0..{len(jobs[task_type]) - 1}")
    return Cluster({job: list(jobs[job]) for job in TASK_TYPES if job in jobs}, task_type, index, peer_timeout)


def _split(address):
    host, port = address.rsplit(":", 1)
    return host, int(port)


def wait_for_peers(cluster):
    """Listen on this task's port while connecting to every peer until each has answered once (peers that
    start later find this one listening): returns when all have, InputError (one line) naming those that
    have not within ``cluster.peer_timeout`` seconds, or when this task's port cannot be listened on."""
    host, port = _split(cluster.address)
    try:
        listener = socket.create_server(("", port), reuse_port=False)
    except OSError as e:
        raise InputError(f"cannot listen on {cluster.address}, this task's address in TF_CONFIG ({e.strerror}): "
                         "free the port or give this task another one in every worker's TF_CONFIG") from None
    listener.setblocking(False)
    waiting = list(cluster.peers)
    deadline = time.monotonic() + cluster.peer_timeout
    try:
        while waiting:
            _accept_all(listener)
            waiting = [peer for peer in waiting if not _answers(peer)]
            if waiting and time.monotonic() > deadline:
                raise InputError(f"no answer from {', '.join(waiting)} within {cluster.peer_timeout:g} s (--peer_timeout):"
                                 " start every task of TF_CONFIG's cluster, check the addresses and firewalls")
            if waiting:
                time.sleep(0.2)
        # Peers still probing this task find it listening a little longer (then TensorFlow's server on the port).
        linger = time.monotonic() + 1.0
        while time.monotonic() < linger:
            _accept_all(listener)
            time.sleep(0.05)
    finally:
        listener.close()


def _accept_all(listener):
    while True:
        try:
            connection, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        connection.close()


def _answers(address):
    try:
        with socket.create_connection(_split(address), timeout=1.0):
            return True
    except OSError:
        return False


def multi_worker_strategy(cluster):
    """Wait for the peers (:func:`wait_for_peers`), then TensorFlow's MultiWorkerMirroredStrategy over the
    cluster (every GPU each worker sees, else its CPU). Call before any other TensorFlow op of the process."""
    wait_for_peers(cluster)
    return tf.distribute.MultiWorkerMirroredStrategy(
        cluster_resolver=tf.distribute.cluster_resolver.TFConfigClusterResolver())


def _sum_over_tasks(strategy, values, dtype):
    """The sum over the tasks of the cluster of each task's ``values`` (1-D, the same length on every task) ->
    ndarray on every task. Only the first replica of each task contributes (TensorFlow numbers a task's
    replicas consecutively), so a task with several GPUs counts once. A collective step: every task must
    call it, in the same order as its other collective steps."""
    local = len(strategy.extended.worker_devices)

    def contribute(x):
        replica = tf.distribute.get_replica_context()
        first = tf.equal(replica.replica_id_in_sync_group % local, 0)
        return replica.all_reduce(tf.distribute.ReduceOp.SUM, tf.where(first, tf.identity(x), tf.zeros_like(x)))

    @tf.function(input_signature=[tf.TensorSpec([None], dtype)])
    def run(x):
        return strategy.experimental_local_results(strategy.run(contribute, (x,)))[0]
    return run(tf.constant(values, dtype)).numpy()


def broadcast(strategy, payload):
    """The chief's ``payload`` (bytes; None on the other tasks) on every task -> bytes. A collective step, as
    :func:`_sum_over_tasks`: the chief's bytes plus the others' zeros, exactly."""
    size = int(_sum_over_tasks(strategy, [0.0 if payload is None else float(len(payload))], tf.float64)[0])
    units = np.zeros((size + 1) // 2, np.float32)  # two bytes a float32: exact below 2^24
    if payload is not None:
        units[:] = np.frombuffer(payload + b"\0" * (size % 2), "<u2")
    return _sum_over_tasks(strategy, units, tf.float32).astype("<u2").tobytes()[:size]


def failed_tasks(strategy, cluster, failed):
    """Every task's ``failed`` flag, gathered on every task -> the ids (:attr:`Cluster.id`, ascending) of those
    that failed. A collective step, as :func:`_sum_over_tasks`."""
    flags = np.zeros(len(cluster.tasks), np.float32)
    flags[cluster.id] = float(failed)
    return [int(task) for task in np.flatnonzero(_sum_over_tasks(strategy, flags, tf.float32))]


def agree(strategy, cluster, step):
    """Run ``step()`` on every task of the cluster -> its result; bad input (InputError) on any task stops every
    task: that task raises its own error, the others one naming it. A collective step, as
    :func:`_sum_over_tasks`."""
    try:
        result, error = step(), None
    except InputError as e:
        result, error = None, e
    failed = failed_tasks(strategy, cluster, error is not None)
    if error is not None:
        raise error
    if failed:
        raise InputError(f"{', '.join(cluster.describe(task) for task in failed)} stopped on bad input (its output "
                         "says which): fix it there and start every task again")
    return result
