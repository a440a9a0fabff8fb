"""One instruction set for every library that picks its kernels by processor, so that the same settings
give the same bits on any x86-64 machine, at any thread count.

torch, MKL, oneDNN, numpy and OpenBLAS each choose their vectorised code by what the processor offers:
AVX-512 on one machine, AVX2 on another, each summing in its own order. `pin()` (run by `import ttc`,
before ttc imports any of them) sets the environment variables that make every one of them take its AVX2
path, which every x86-64 processor of the project's machines has, and then checks that they took it.
`make`, papermill, the JupyterLab kernel (its kernel spec), pytest and Ray workers (who inherit the
environment) are all pinned; a process that imported torch or numpy with another choice before
`import ttc` is refused with what to do, instead of silently drawing another study.

`TTC_DETERMINISTIC=0` in the environment turns the pin off (faster on AVX-512 machines; the results are
then this machine's own and will not match the committed golden record).
"""

from __future__ import annotations

import os
import platform
import sys
import warnings
from pathlib import Path

ENV_FILE = Path(__file__).with_name("pinned.env")


def _read_env(path: Path) -> dict[str, str]:
    lines = (line.strip() for line in path.read_text().splitlines())
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


PINNED_ENV = _read_env(ENV_FILE)  # declared once, in pinned.env, which the Makefile reads too
NUMPY_FEATURES_OFF = ("X86_V4", "AVX512_ICL", "AVX512_SPR")
TORCH_CAPABILITY = "AVX2"
SWITCH = "TTC_DETERMINISTIC"


class DeterminismError(RuntimeError):
    """This process cannot give the study's bits; the message says why and what to do."""


def enabled() -> bool:
    return os.environ.get(SWITCH, "1") != "0"


def _fix(what: str) -> str:
    exports = " ".join(f"{k}={v!r}" for k, v in PINNED_ENV.items())
    return (f"{what}. Import ttc before torch and numpy, or start Python with the pinned environment "
            f"(`make` targets and the project's Jupyter kernel set it): {exports}. "
            f"{SWITCH}=0 runs unpinned, drawing this machine's own study instead of the committed one")


def pin() -> None:
    """Set the pinned environment (before torch and numpy load, where they have not), then check it held."""
    if not enabled():
        return
    if platform.machine().lower() not in ("x86_64", "amd64"):
        warnings.warn(f"ttc pins x86-64 instruction sets; on {platform.machine()} the results are this "
                      "machine's own and will not match the committed golden record")
        return
    for key, value in PINNED_ENV.items():
        given = os.environ.get(key)
        # OpenBLAS's core type is set on some machines to avoid an old bug; Haswell's kernels run on all of them.
        if given is not None and given != value and key != "OPENBLAS_CORETYPE":
            raise DeterminismError(f"the environment sets {key}={given!r}; the study pins {key}={value!r}. "
                                   f"Unset it, or set {SWITCH}=0 to run unpinned (this machine's own study)")
        os.environ[key] = value
    check()


def check() -> dict[str, str]:
    """What this process runs on (torch's capability, numpy's dispatch); raises where it is not the pin."""
    import torch
    from numpy._core._multiarray_umath import __cpu_features__

    state = {"torch_capability": torch.backends.cpu.get_cpu_capability(),
             "numpy_avx512": ",".join(f for f in NUMPY_FEATURES_OFF if __cpu_features__.get(f)) or "off"}
    if not enabled():
        return state
    flags = _cpu()[1]  # none known (no /proc/cpuinfo): torch's capability below still tells
    missing = [flag for flag in ("avx2", "fma") if flags and flag not in flags]
    if missing:
        raise DeterminismError(f"this processor lacks {' and '.join(missing)}, which the study's pinned arithmetic "
                               f"needs; set {SWITCH}=0 to run unpinned (this machine's own study)")
    if state["torch_capability"] != TORCH_CAPABILITY:
        raise DeterminismError(_fix(f"torch runs its {state['torch_capability']} kernels, not the pinned "
                                    f"{TORCH_CAPABILITY} ones: it ran an operation before `import ttc`"))
    if state["numpy_avx512"] != "off":
        raise DeterminismError(_fix(f"numpy dispatches to {state['numpy_avx512']}: it was imported before "
                                    "`import ttc`"))
    return state


NUMERICS_VERSION = 1  # raise when a change to the pin or to ttc.core.ordered moves results


def numerics() -> str:
    """What made this process's numbers, as every artifact's manifest records it: the pinned arithmetic
    (the same everywhere) or this machine's own."""
    from ttc.core import kernels

    if enabled() and kernels.available():
        return f"pinned v{NUMERICS_VERSION}: AVX2 for every library, ordered matrix products"
    why = "unpinned" if not enabled() else "no C++ kernels, so torch's products"
    return f"native ({why}): {describe()['processor']}, {sys.platform}"


def _cpu() -> tuple[dict[str, str], list[str]]:
    """(the first processor's model fields, its flags) from /proc/cpuinfo; empty where there is none."""
    info, flags = {}, []
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key, value = key.strip(), value.strip()
                if key in ("model name", "cpu family", "model") and key not in info:
                    info[key] = value
                if key == "flags":
                    return info, value.split()
    except OSError:
        pass
    return info, flags


def describe() -> dict:
    """The pin and the processor, for a record (the golden record, a benchmark's output)."""
    import torch

    info, flags = _cpu()
    model = info.get("model name", platform.processor())
    if "cpu family" in info:
        model += f" (family {info['cpu family']}, model {info.get('model', '?')})"
    return {"pinned": enabled(), "processor": model,
            "avx512": any(f.startswith("avx512") for f in flags), "avx2": "avx2" in flags,
            "torch_capability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads(),
            "python": sys.version.split()[0], "torch": torch.__version__}
