"""`nst sheet`: one photo in several paintings (and style weights) as one labelled contact
sheet; each cell is a picture made as the Python API makes one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from nst_base.locks import PathLocks
from nst_ort.api import stylize
from nst_ort.io.images import save_image, writable_suffixes
from nst_ort.io.inputs import load_inputs
from nst_ort.io.outputs import check_output_file
from nst_ort.io.sheet import contact_sheet
from nst_ort.options.stylize import StylizeOptions


def make_sheet(content: Path, styles: list[Path], output: Path, settings: StylizeOptions, recipe: str,
               weights: tuple[float | None, ...], options: dict, columns: int, models_dir: Path,
               say: Callable[[str], None] = lambda line: None) -> None:
    """The sheet: the photo and the paintings, then a cell per painting for each style weight
    (None: the recipe's); `settings` are the cells' validated options, `options` as given."""
    check_output_file(output, [content, *styles], "-o", writable_suffixes())
    with PathLocks([output]):  # one sheet per output at a time
        content_image, style_images = load_inputs(content, styles, settings, explicit_size=True)
        cells = [(f"content: {content.name}", content_image)]
        cells += [(f"style: {path.name}", image) for path, image in zip(styles, style_images)]
        for weight in weights:
            for path, style_image in zip(styles, style_images):
                say(path.name + (f", style weight {weight:g}" if weight is not None else ""))
                cell = {**options, "size": settings.size, **({"style_weight": weight} if weight is not None else {})}
                result = stylize(content_image, style_image, recipe=recipe, models_dir=models_dir, notify=say, **cell)
                cells.append((path.stem + (f" x{weight:g}" if weight is not None else ""), result.image))
        save_image(contact_sheet(cells, columns or len(styles) + 1, cell_side=min(settings.size, 320)), output)
