"""compute_sim: a faithful stand-in for the Compute Server (DESIGN.md §6).

`create_app(settings, config)` builds the FastAPI app; `ComputeSimServer` runs it in a
thread; `python -m compute_sim` runs it standalone. Knobs: `SimConfig` (env COMPUTE_SIM_*,
PUT /api/v1/sim/config) and the per-task `sim` object (`TaskSim`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from compute_sim.app import create_app
    from compute_sim.config import SimConfig, TaskSim
    from compute_sim.server import ComputeSimServer

_EXPORTS = {
    "ComputeSimServer": "compute_sim.server",
    "SimConfig": "compute_sim.config",
    "TaskSim": "compute_sim.config",
    "create_app": "compute_sim.app",
}


def __getattr__(name: str) -> Any:
    # Lazy: `import compute_sim.config` should not pull in FastAPI, boto3 and Pillow.
    if name not in _EXPORTS:
        raise AttributeError(f"module 'compute_sim' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_EXPORTS[name]), name)


__all__ = ["ComputeSimServer", "SimConfig", "TaskSim", "create_app"]
