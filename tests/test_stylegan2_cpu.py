"""stylegan2.cpu: the CPU's flags and the training precision they choose, on written /proc/cpuinfo texts."""
from stylegan2.cpu import amx_flags, cpu_flags, default_precision

AMX_XEON = "processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16 amx_bf16 amx_tile amx_int8\nbogomips\t: 1\n"
AVX512_ONLY = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16\n"


def test_flags_are_read_from_the_first_flags_line(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(AMX_XEON + "flags\t\t: other\n")
    assert "avx512_bf16" in cpu_flags(path) and "other" not in cpu_flags(path)
    assert amx_flags(path) == ["amx_bf16", "amx_int8", "amx_tile"]


def test_precision_is_bfloat16_only_with_amx_bf16(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(AMX_XEON)
    assert default_precision(path)[0] == "bfloat16"
    path.write_text(AVX512_ONLY)  # bfloat16 instructions without AMX tiles: slower than float32
    precision, reason = default_precision(path)
    assert precision == "float32" and "amx_bf16" in reason


def test_no_cpuinfo_means_no_flags_and_float32(tmp_path):
    assert cpu_flags(tmp_path / "missing") == set()
    assert default_precision(tmp_path / "missing")[0] == "float32"
