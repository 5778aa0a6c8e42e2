"""`python -m compute_sim [--host H] [--port 9000]`: the simulator, standalone.

Shared settings (REDIS_URL, R2_*, COMPUTE_*) come from the environment through
`core.config.get_settings()`; fault knobs from `COMPUTE_SIM_*` (compute_sim/config.py).
"""

from __future__ import annotations

import argparse

import uvicorn

from compute_sim.app import create_app
from compute_sim.config import SimConfig
from core.config import get_settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m compute_sim", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    app = create_app(get_settings(), SimConfig())
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
