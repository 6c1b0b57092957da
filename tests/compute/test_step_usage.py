"""The per-backend peak readers: a container's cgroup (v2 and v1 layouts) and the local process tree."""

import subprocess
import sys

from ml_platform.compute.step_usage import cgroup_peak_bytes, process_tree_peak_bytes


def test_cgroup_peak_reads_v2_then_v1_and_none_without_either(tmp_path):
    v2, v1, empty = tmp_path / "v2", tmp_path / "v1", tmp_path / "none"
    (v1 / "memory").mkdir(parents=True)
    v2.mkdir()
    empty.mkdir()
    (v2 / "memory.peak").write_text("734003200\n")
    (v1 / "memory" / "memory.max_usage_in_bytes").write_text("524288000\n")
    assert cgroup_peak_bytes(str(v2)) == 734003200
    assert cgroup_peak_bytes(str(v1)) == 524288000
    assert cgroup_peak_bytes(str(empty)) is None


def test_process_tree_peak_includes_a_live_child():
    child = subprocess.Popen([sys.executable, "-c", "import sys, time; held = b'x' * (200 << 20); print(1, flush=True); time.sleep(30)"],
                             stdout=subprocess.PIPE, text=True)
    try:
        before = process_tree_peak_bytes()
        child.stdout.readline()  # it holds its 200 MiB now
        assert process_tree_peak_bytes() - before >= 190 * 2**20
    finally:
        child.kill()
        child.wait()
