"""What a checkpoint costs: its size on disk and the seconds to write and read it back.

    .venv/bin/python bench/checkpoint_cost.py [--sizes 533x400,6000x4500] [--history 10]

The state is what a run keeps (nst_ort/jobs/run_folder.py): the pixels, the best image and an
L-BFGS state with a full history of correction pairs (float32), filled with random values
(the cost does not depend on them). Writes go to --folder (default: a temp folder beside the
repository, on the same disk as a run's output). Prints a markdown table; JSON in bench/results/.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nst_ort.core.optimize import Snapshot  # noqa: E402
from nst_ort.core.checkpoint import Checkpoint  # noqa: E402
from nst_ort.jobs.run_folder import RunFolder  # noqa: E402


def lbfgs_state(width: int, height: int, history: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    vector = lambda: rng.random(3 * width * height, dtype=np.float32)  # noqa: E731
    state = {"x": vector(), "g": vector(), "f": np.float64(1.0), "converged": np.bool_(False), "pairs": np.int64(history)}
    for index in range(history):
        state[f"s{index}"], state[f"y{index}"] = vector(), vector()
    return state


def measure(width: int, height: int, history: int, folder: Path) -> dict:
    rng = np.random.default_rng(0)
    snapshot = Snapshot(lbfgs_state(width, height, history, rng), rng.random((3, height, width), dtype=np.float32),
                        1.0, 100, 60.0, ())
    run = RunFolder(folder / f"{width}x{height}")
    run.path.mkdir(parents=True, exist_ok=True)
    write = run.write(Checkpoint(1, None, snapshot, (), 100, 60.0))
    started = time.perf_counter()
    back = run.read()
    read = time.perf_counter() - started
    assert np.array_equal(back.snapshot.method["s0"], snapshot.method["s0"])
    size = run.checkpoint_file.stat().st_size
    run.clear()
    return {"size": f"{width}x{height}", "history": history, "bytes": size, "write_seconds": write,
            "read_seconds": read, "write_MB_per_s": size / write / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="533x400,6000x4500")
    parser.add_argument("--history", type=int, default=10)
    parser.add_argument("--folder", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.folder or ROOT.parent) as folder:
        rows = [measure(*map(int, size.split("x")), args.history, Path(folder)) for size in args.sizes.split(",")]
    out = ROOT / "bench" / "results" / "checkpoint_cost.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=1) + "\n")
    print("| size | L-BFGS pairs | checkpoint | write | read |\n|---|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['size']} | {row['history']} | {row['bytes'] / 2**20:.0f} MiB | {row['write_seconds']:.2f} s "
              f"| {row['read_seconds']:.2f} s |")


if __name__ == "__main__":
    main()
