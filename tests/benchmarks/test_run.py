"""benchmarks/run.py: the cnnjax side runs the library's step and the JSON has the documented keys; the PyTorch
side (when .venv-torch exists) trains a model with cnnjax's parameter count."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("benchmarks_run", ROOT / "benchmarks" / "run.py")
run = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # dataclasses look it up
spec.loader.exec_module(run)

FAST = [
    "--workloads",
    "lenet5",
    "--steps",
    "2",
    "--rounds",
    "2",
    "--warmup",
    "1",
    "--batch-size",
    "8",
    "--peak-size",
    "128",
    "--pipeline-seconds",
    "0.1",
]


def test_cnnjax_side_json(tmp_path, capsys):
    """One worker (the slow part: jax import and compilation), with an XLA_FLAGS variant."""
    out = tmp_path / "bench.json"
    assert run.main([*FAST, "--frameworks", "cnnjax", "--xla-flags", "eigen", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert {"results", "machine", "versions", "matmul_peak", "loadavg_start", "loadavg_end"} <= report.keys()
    assert report["matmul_peak"]["gflops"] > 0
    (result,) = report["results"]
    assert {
        "workload",
        "framework",
        "img_per_s",
        "step_ms",
        "compile_s",
        "peak_rss_mb",
        "params",
        "macs",
        "achieved_gflops",
        "pipeline_img_per_s",
        "loadavg_1min",
    } <= result.keys()
    assert (result["workload"], result["framework"], result["batch"]) == ("lenet5", "cnnjax", 8)
    assert (result["variant"], result["xla_flags"]) == ("cnnjax[eigen]", run.FLAG_SETS["eigen"])
    assert result["params"] == 61_706  # the registry's lenet5, trained by cnnjax.train's step
    assert len(result["rounds"]) == 2 and len(result["loadavg_1min"]) == 2
    assert result["img_per_s"] == pytest.approx(8 / (result["step_ms"] / 1e3))
    assert result["compile_s"] > 0 and result["peak_rss_mb"] > 0
    assert "cnnjax[eigen]" in capsys.readouterr().out  # the table


def test_flag_sets_run_under_their_profiles():
    profiles = {name: run.Variant("cnnjax", name, run.FLAG_SETS[name]).profile for name in run.FLAG_SETS}
    assert profiles == {
        "cnnjax": "fast",
        "cnnjax-avx2": "fast",
        "portable": "portable",
        "xla": "xla",
        "eigen": "xla",
        "eigen+onednn": "xla",
    }
    assert "--xla_cpu_max_isa=AVX2" in run.FLAG_SETS["cnnjax-avx2"]
    assert run.Variant("cnnjax").profile == "fast" and run.Variant("cnnjax", "flags3", "--xla_foo=1").profile == "xla"


def test_unknown_workload_is_rejected():
    with pytest.raises(SystemExit):
        run.parse_args(["--workloads", "lenet6"])


@pytest.mark.torch
@pytest.mark.skipif(not run.TORCH_PYTHON.exists(), reason=f"no PyTorch reference environment at {run.TORCH_PYTHON}")
def test_pytorch_side_matches_parameters(tmp_path):
    out = tmp_path / "bench.json"
    run.main([*FAST, "--frameworks", "cnnjax,pytorch-eager", "--peak-size", "0", "--json", str(out)])
    results = {r["framework"]: r for r in json.loads(out.read_text())["results"]}
    assert results["pytorch-eager"]["params"] == results["cnnjax"]["params"]
    assert results["cnnjax"]["ratio_to_best_pytorch"] > 0
    versions = json.loads(out.read_text())["versions"]
    assert "torch" in versions["pytorch"] and "jax" in versions["cnnjax"]
