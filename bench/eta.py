"""How well the progress line's ETA holds: one `nst stylize` run with its progress timestamped,
each line's ETA against the time the run really ended.

    .venv/bin/python bench/eta.py --name eta_2000 -- CONTENT STYLE --size 2000 [more nst stylize options]
    .venv/bin/python bench/eta.py --name eta_2000 --from-log     # judge a logged run again

Writes bench/results/eta/NAME.log (progress lines, each prefixed by its Unix time), NAME.png,
NAME.report.json (the run's report) and NAME.json: per line the ETA, the seconds really left
and the relative error, and the worst error once the run has gone `--settle` seconds (the
issue's "after the first minutes"). The run's own output is the image; nothing else is kept.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import nst_command  # noqa: E402

WORK = ROOT / "bench" / "results" / "eta"


def parse_duration(text: str) -> int:
    """'1h05m', '12m03s', '40s' -> seconds (progress.format_seconds' forms)."""
    seconds, number = 0, ""
    for char in text:
        if char.isdigit():
            number += char
        else:
            seconds += int(number) * {"h": 3600, "m": 60, "s": 1}[char]
            number = ""
    return seconds


def eta_accuracy(stamped_lines: list[tuple[float, str]], end: float, settle: float = 600.0,
                 last: float = 60.0) -> dict:
    """Each progress line's ETA against `end`, and the worst relative error after `settle` seconds
    and before the `last` seconds (where a few seconds off is a large share of what is left)."""
    errors = []
    for stamp, text in stamped_lines:
        if " ETA " not in text:
            continue
        left = end - stamp
        if left > 0:
            eta = parse_duration(text.rsplit("ETA ", 1)[1].strip())
            errors.append({"at": round(stamp), "eta_seconds": eta, "left_seconds": round(left),
                           "error": round((eta - left) / left, 3)})
    start = stamped_lines[0][0] if stamped_lines else end
    settled = [e for e in errors if e["at"] - start > settle and e["left_seconds"] > last]
    return {"lines": len(errors), "settle_seconds": settle, "last_seconds_excluded": last,
            "worst_error_after_settling": max((abs(e["error"]) for e in settled), default=None),
            "samples": errors[:: max(1, len(errors) // 16)]}


def read_stamped(path: Path) -> list[tuple[float, str]]:
    """A timestamped log's lines as (Unix time, text)."""
    rows = []
    for line in path.read_text().splitlines():
        stamp, _, text = line.partition(" ")
        rows.append((float(stamp), text))
    return rows


def from_log(name: str, settle: float) -> dict:
    """The accuracy of a run measured before, from its log (the run ended at its `wrote` line)."""
    stamped = read_stamped(WORK / f"{name}.log")
    end = next(stamp for stamp, text in stamped if text.startswith("wrote "))
    return {"command": stamped[0][1], "wall_seconds": round(end - stamped[0][0], 1),
            **eta_accuracy(stamped, end, settle)}


def run(name: str, arguments: list[str], settle: float) -> dict:
    WORK.mkdir(parents=True, exist_ok=True)
    image, report, log = WORK / f"{name}.png", WORK / f"{name}.report.json", WORK / f"{name}.log"
    command = [*nst_command(), "stylize", *arguments, "-o", str(image), "--report", str(report)]
    started = time.time()
    stamped: list[tuple[float, str]] = [(started, "start " + " ".join(command))]
    with log.open("w") as out, subprocess.Popen(command, stderr=subprocess.PIPE, text=True, cwd=ROOT) as process:
        out.write(f"{started:.1f} {stamped[0][1]}\n")
        for line in process.stderr:
            stamped.append((time.time(), line.rstrip("\n")))
            out.write(f"{stamped[-1][0]:.1f} {stamped[-1][1]}\n")
            out.flush()
    end = time.time()
    result = {"command": "nst stylize " + " ".join(arguments), "exit_code": process.returncode,
              "wall_seconds": round(end - started, 1), **eta_accuracy(stamped, end, settle)}
    (WORK / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", default="eta")
    parser.add_argument("--settle", type=float, default=600.0, help="seconds after which the ETA is judged")
    parser.add_argument("--from-log", action="store_true", help="no run: judge the logged run NAME again")
    parser.add_argument("arguments", nargs=argparse.REMAINDER, help="after --: nst stylize's arguments")
    args = parser.parse_args()
    if args.from_log:
        print(json.dumps(from_log(args.name, args.settle), indent=1))
        return
    arguments = args.arguments[1:] if args.arguments[:1] == ["--"] else args.arguments
    print(json.dumps(run(args.name, arguments, args.settle), indent=1))


if __name__ == "__main__":
    main()
