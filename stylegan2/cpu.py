"""Facts about the CPU that choose a default: whether it has AMX bfloat16 units, and so which training
precision is faster on it.

bfloat16 pays on a CPU only where oneDNN has AMX tiles to run it on (``amx_bf16`` in /proc/cpuinfo): there a
bfloat16 matmul ran at 3.5x the float32 rate (issue 19's Xeon); on AVX-512 CPUs without AMX (avx512_bf16 only)
bfloat16 training ran at 0.45x float32 and 32 px synthesis at 0.70x (docs/performance.md).
"""
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")


def cpu_flags(cpuinfo=CPUINFO):
    """The feature flags of the first CPU in ``cpuinfo`` (a /proc/cpuinfo text file) as a set; empty where the
    file is missing or has no flags line (not Linux)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def amx_flags(cpuinfo=CPUINFO):
    """The amx_* flags of this CPU, sorted (empty: no AMX units)."""
    return sorted(flag for flag in cpu_flags(cpuinfo) if flag.startswith("amx"))


def default_precision(cpuinfo=CPUINFO):
    """The faster training precision on this CPU -> (precision 'float32' | 'bfloat16', reason: one sentence)."""
    if "amx_bf16" in cpu_flags(cpuinfo):
        return "bfloat16", "this CPU has AMX bfloat16 units (amx_bf16), where bfloat16 convolutions are faster"
    return "float32", "this CPU has no AMX bfloat16 units (amx_bf16), where bfloat16 is slower than float32"
