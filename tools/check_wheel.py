"""The installed distribution, as a user gets it: a wheel built from the checkout, installed in
a fresh venv, runs `nst --help`, `python -m nst_ort --help` and a tiny stylize from a folder
outside the checkout, and puts no top-level `cli` module into site-packages.

    make check-wheel     # builds the wheel and the venv, then runs this with the venv's python
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(command: list[str], cwd: Path, env: dict | None = None) -> str:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr[-2000:]}")
    return result.stdout + result.stderr


def main(venv_python: str) -> None:
    import os

    venv_python = str(Path(venv_python).absolute())
    bin_dir = Path(venv_python).parent
    purelib = run([venv_python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], ROOT).strip()
    if (Path(purelib) / "cli.py").exists():
        raise SystemExit(f"the wheel installs a top-level cli.py into {purelib}")
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        sys.path.insert(0, str(ROOT))  # the tiny test model and images come from the checkout's tests
        from tests.tiny import random_images, write_tiny_model

        write_tiny_model(work / "models" / "vgg16")
        images = random_images(work, {"content": (48, 36), "style": (40, 40)})
        env = dict(os.environ, NST_MODELS_DIR=str(work / "models"))
        env.pop("PYTHONPATH", None)
        run([str(bin_dir / "nst"), "--help"], work, env)
        run([venv_python, "-m", "nst_ort", "--help"], work, env)
        out = work / "out.png"
        run([str(bin_dir / "nst"), "stylize", str(images["content"]), str(images["style"]), "-o", str(out),
             "--size", "32", "--iterations", "2", "--quiet"], work, env)
        if not out.is_file():
            raise SystemExit("the installed nst wrote no image")
    print(f"wheel ok: nst --help, python -m nst_ort and a tiny stylize ran from {bin_dir.parent} "
          f"(python {sysconfig.get_python_version()})")


if __name__ == "__main__":
    main(sys.argv[1])
