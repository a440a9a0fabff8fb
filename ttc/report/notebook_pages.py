"""The full profile's executed notebooks as small copies a reader opens from the README (`docs/notebooks/`).

The committed notebooks have no outputs (they are the source); `make reproduce` leaves executed copies under
`data/full/notebooks/`, which are not committed. This writes a reader's copy of each (a notebook: GitHub and
JupyterLab show it with its figures and tables), with
- every progress bar as one line of text, its *final* state (the bar, the count, the time), read from the
  widget state papermill saved: a bar's own text fallback is its first state (0%);
- every image re-encoded as a 256-colour PNG, which keeps a plot's lines and text and is several times smaller.

`make reproduce` (the full profile's own run, no variant) runs it at the end:
`python -m ttc.report.notebook_pages EXECUTED_FOLDER OUT_FOLDER`.
"""

from __future__ import annotations

import base64
import html
import io
import sys
from pathlib import Path

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def bar_line(state: dict, model_id: str, width: int = 20) -> str | None:
    """The final text of a tqdm widget (an HBox of a label, a progress bar and a label), or None when the model
    is not one."""
    box = state.get(model_id, {}).get("state", {})
    children = [state.get(c.removeprefix("IPY_MODEL_"), {}) for c in box.get("children", [])]
    if len(children) != 3 or children[1].get("model_name") != "FloatProgressModel":
        return None
    left, bar, right = (html.unescape(str(c.get("state", {}).get("value", ""))) for c in children)
    progress = children[1].get("state", {})
    done = (progress.get("value") or 0) / progress["max"] if progress.get("max") else 0.0
    filled = round(width * min(max(done, 0.0), 1.0))
    line = f"{left}|{'█' * filled}{' ' * (width - filled)}|{right}"
    return " ".join(line.replace("\u2007", " ").split())


def _small_png(data: str) -> str:
    """A PNG (base64) re-encoded with 256 colours, or the original where that is not smaller."""
    from PIL import Image

    raw = base64.b64decode(data)
    with Image.open(io.BytesIO(raw)) as image:
        out = io.BytesIO()
        image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(out, format="PNG",
                                                                                         optimize=True)
    small = out.getvalue()
    return base64.b64encode(small).decode() if len(small) < len(raw) else data


def prepare(notebook) -> None:
    """`notebook` (nbformat) made ready to render: bars as their final line, images smaller, widget state gone."""
    import nbformat

    state = notebook.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    for cell in notebook.cells:
        outputs = []
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW in data:
                line = bar_line(state, data[WIDGET_VIEW].get("model_id", ""))
                if line is not None:
                    outputs.append(nbformat.v4.new_output("stream", name="stderr", text=line + "\n"))
                continue
            if "image/png" in data:
                data["image/png"] = _small_png(data["image/png"])
            outputs.append(output)
        if cell.cell_type == "code":
            cell.outputs = outputs
    notebook.metadata.pop("widgets", None)


def reader_copy(executed: Path, out: Path) -> Path:
    """`executed` (an executed notebook) prepared for reading (`prepare`) and written to `out`, atomically."""
    import nbformat

    from ttc.core.store import write_file

    notebook = nbformat.read(executed, as_version=4)
    prepare(notebook)
    return write_file(Path(out), lambda tmp: nbformat.write(notebook, tmp), manifest=False)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m ttc.report.notebook_pages EXECUTED_FOLDER OUT_FOLDER", file=sys.stderr)
        return 2
    folder, out = Path(argv[0]), Path(argv[1])
    executed = sorted(p for p in folder.glob("*.ipynb") if not p.name.endswith(".running.ipynb"))
    if not executed:
        print(f"no executed notebooks in {folder}: run `make reproduce` first", file=sys.stderr)
        return 1
    for path in executed:
        page = reader_copy(path, out / path.name)
        print(f"{page} ({page.stat().st_size / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
