"""`qa-bot eval` without the `eval` extra (matplotlib): the numbers are written, the plots skipped with a note."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from qa_bot.apps.cli import main

ROOT = Path(__file__).resolve().parents[2]
SEEDS_QUESTIONS = ROOT / "eval" / "seeds_questions.jsonl"


def test_eval_without_matplotlib_writes_the_numbers_and_says_the_plots_were_skipped(monkeypatch, tmp_path, capsys):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now raises ImportError
    out = tmp_path / "out"

    code = main(["eval", str(SEEDS_QUESTIONS), "-g", "extractive", "--limit", "2", "--out", str(out)])

    err = capsys.readouterr().err
    assert code == 0, err[-2000:]
    assert len(json.loads((out / "results.json").read_text())["results"]) == 2
    assert "## Metrics" in (out / "report.md").read_text()
    assert not (out / "metrics.png").exists()
    notes = [line for line in err.splitlines() if "plots skipped" in line]
    assert notes == ['plots skipped: matplotlib is not installed (pip install "qa-bot[eval]")']
