"""The command line's extras: completion scripts for bash, zsh and fish that know every
command, the version, and the BLAS kernels every machine computes with."""
import os

from conftest import ROOT, run_npucc


def test_completion_scripts_name_every_command():
    for shell in ["bash", "zsh", "fish"]:
        r = run_npucc("--generate-completion-script", shell)
        assert r.returncode == 0, r.stderr
        for command in ["compile", "export", "run", "profile", "disasm", "asm", "inspect", "analyze", "target"]:
            assert command in r.stdout, (shell, command)


def test_version_is_the_one_bundles_record(tmp_path):
    r = run_npucc("--version")
    assert r.returncode == 0, r.stderr
    version = r.stdout.strip()
    assert version.count(".") == 2 and all(part.isdigit() for part in version.split(".")), version
    bundle = tmp_path / "digits.npub"
    r = run_npucc("compile", ROOT / "samples" / "digits_cnn.onnx", "-o", bundle, "--precision", "fp16",
                  "--input-shape", "input=1,1,8,8", "-q")
    assert r.returncode == 0, r.stderr
    r = run_npucc("inspect", bundle)
    assert r.returncode == 0, r.stderr
    assert [line.split() for line in r.stdout.splitlines() if line.split()[:1] == ["compiler"]] == [
        ["compiler", f'"npucc', f'{version}"']]


def test_every_avx2_machine_computes_with_the_same_kernels(tmp_path):
    """Each OpenBLAS kernel family sums a product in its own order: npucc runs the Haswell
    kernels on every CPU with AVX2 and FMA, so that one model and one set of flags give one
    bundle on every such machine; an OPENBLAS_CORETYPE the user set is left alone."""
    flags = open("/proc/cpuinfo").read().split("flags", 1)[1].split("\n", 1)[0].split()
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    r = run_npucc("inspect", ROOT / "samples" / "digits_cnn.onnx", "-v", env=env)
    assert r.returncode == 0, r.stderr
    kernels = [line.split("OpenBLAS kernels: ")[1] for line in r.stderr.splitlines() if "OpenBLAS kernels: " in line]
    if "avx2" in flags and "fma" in flags:
        assert kernels == ["Haswell"]
    r = run_npucc("inspect", ROOT / "samples" / "digits_cnn.onnx", "-v", env={**env, "OPENBLAS_CORETYPE": "Prescott"})
    assert r.returncode == 0, r.stderr
    assert [line.split("OpenBLAS kernels: ")[1] for line in r.stderr.splitlines() if "OpenBLAS kernels: " in line] == [
        "Prescott"]
