"""The simulator served over real HTTP on loopback, in its own process, for benchmarks/production.py.

Usage: production_server.py '<WorldConfig as JSON>' [rate_limit]
Prints the base URL on the first line of stdout, serves until stdin closes, then prints the
simulator's request counters (JSON) and its own peak RSS, and exits. A separate process keeps the
server's work (and its GIL) off the client's measurements, as a remote API would.
"""

from __future__ import annotations

import json
import sys
import threading

from tiktok_pipeline.simulator.app import Simulator
from tiktok_pipeline.simulator.server import SimulatorServer
from tiktok_pipeline.simulator.world import WorldConfig


def main() -> None:
    config = WorldConfig(**json.loads(sys.argv[1]))
    rate_limit = int(sys.argv[2]) if len(sys.argv) > 2 else 600
    simulator = Simulator(config, rate_limit=rate_limit)
    server = SimulatorServer(simulator, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    print(server.base_url, flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    server.shutdown()
    server.server_close()
    # VmHWM: ru_maxrss would include the parent's peak (Linux keeps it across exec)
    with open("/proc/self/status") as status:
        rss_mb = next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM:"))
    print(json.dumps({"stats": dict(simulator.stats), "rss_mb": rss_mb}), flush=True)


if __name__ == "__main__":
    main()
