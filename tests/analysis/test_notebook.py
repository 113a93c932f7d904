"""notebooks/analysis.ipynb runs top to bottom on a scripted run and shows the figures."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "analysis.ipynb"


def test_notebook_executes_and_produces_the_figures(scripted_runs, tmp_path, monkeypatch):
    monkeypatch.setenv("OVERSIGHT_RUNS", str(scripted_runs))
    monkeypatch.setenv("OVERSIGHT_FIGURES", str(tmp_path / "figures"))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parents[1])}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if o.output_type == "display_data" and "image/png" in o.data]
    assert len(images) >= 2  # accuracy and calibration
    assert (tmp_path / "figures" / "accuracy.png").exists() and (tmp_path / "figures" / "calibration.svg").exists()
    html = "".join(o.data.get("text/html", "") for o in outputs if o.output_type in ("display_data", "execute_result"))
    assert "consultancy" in html and "95% CI" in html
