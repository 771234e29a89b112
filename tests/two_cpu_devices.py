"""Data-parallel training against one device, with TensorFlow's CPU split into two logical devices (done here,
before TensorFlow initialises), for tests/test_stylegan2_training.py:

    python tests/two_cpu_devices.py DATA OPTIONS ITERATIONS OUTDIR OUT

trains ITERATIONS minibatches of OPTIONS (TrainingOptions as JSON) on DATA (uint8 .npy) once on one device
(``Trainer``) and once with devices 2 through ``train`` into the run folder OUTDIR, and writes OUT (.npz): both
runs' checkpoint arrays ('one/<key>', 'two/<key>'), the one-device run's losses averaged over the minibatches
that computed them, as ``train`` logs them ('one_loss_D', 'one_r1', 'one_loss_G', 'one_pl': the two-device
run's are in OUTDIR/log.jsonl) and 'replica_spread', the largest difference between the two replicas' copies of
any variable of the two-device run.
"""
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's stylegan2, not an installed one
tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0],
                                           [tf.config.LogicalDeviceConfiguration()] * 2)


def main(data, options_json, iterations, outdir, out):
    from stylegan2.training import Trainer, TrainingOptions, train

    options = TrainingOptions(**json.loads(options_json))
    iterations = int(iterations)
    one = Trainer(np.load(data), dataclasses.replace(options, devices=1))
    logs = [one.train_iteration() for _ in range(iterations)]
    arrays = {f"one_{key}": np.mean([log[key] for log in logs if key in log]) for key in logs[0]}
    arrays.update({f"one/{key}": value for key, value in one.checkpoint_arrays().items()})

    total_kimg = iterations * options.batch_size / 1000
    options = dataclasses.replace(options, devices=2, data=data, total_kimg=total_kimg, snapshot_kimg=total_kimg)
    two = train(options, outdir, progress=False)
    arrays.update({f"two/{key}": value for key, value in two.checkpoint_arrays().items()})
    variables = list(two.G_vars().values()) + list(two.Gs_vars().values()) + two.d_vars + [two.pl_mean] + [
        slot for opt in (two.g_opt, two.d_opt) for slot in opt.m + opt.v + [opt.t]]
    spread = 0.0
    for var in variables:
        first, second = (copy.numpy() for copy in two.strategy.experimental_local_results(var))
        spread = max(spread, float(np.max(np.abs(second - first), initial=0.0)))
    arrays["replica_spread"] = np.float64(spread)
    np.savez(out, **arrays)


if __name__ == "__main__":
    main(*sys.argv[1:])
