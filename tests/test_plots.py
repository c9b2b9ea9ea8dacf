"""The chart command: coverage bars from evaluate.py --json files, the Fréchet distance against
training time from metrics.csv files; a PNG, or one error line for a bad file."""
import json

import pytest
from PIL import Image

from nanogan.command import main as run_command
from nanogan.eval import plots


def main(argv):
    """The tool as `python -m nanogan.eval.plots` runs it: its exit status, errors one line."""
    return run_command(plots.main, argv)


def write(path, counts):
    path.write_text(json.dumps({"counts": counts, "frechet": 1.0}))
    return path


def test_coverage_chart(tmp_path):
    a = write(tmp_path / "a.json", [100] * 10)
    b = write(tmp_path / "b.json", [0, 900, 0, 0, 0, 0, 0, 100, 0, 0])
    out = tmp_path / "cov.png"
    assert main([str(out), f"uniform={a}", f"collapsed={b}", "--title", "t"]) == 0
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size[0] > 300, (im.format, im.size)


@pytest.mark.parametrize("content, says", [
    ("not json", "cannot read predicted-class counts"),
    (json.dumps({"frechet": 3}), "cannot read predicted-class counts"),
    (json.dumps({"counts": [1, 2, 3]}), "must be 10 non-negative integers"),
    (json.dumps({"counts": [0] * 10}), "must be 10 non-negative integers"),
])
def test_bad_json_is_one_error_line(tmp_path, capsys, content, says):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    code = main([str(tmp_path / "out.png"), f"run={bad}"])
    err = capsys.readouterr().err
    assert code == 2 and says in err and err.count("\n") == 1, f"exit {code}, stderr {err!r}"
    assert "Traceback" not in err and not (tmp_path / "out.png").exists()


def test_spec_without_label(tmp_path, capsys):
    assert main([str(tmp_path / "out.png"), str(write(tmp_path / "a.json", [1] * 10))]) == 2
    assert "is not LABEL=FILE" in capsys.readouterr().err


def test_race_chart_from_metrics_csv(tmp_path, capsys):
    """metrics.csv files draw the Fréchet distance against training minutes; a CSV without
    the seconds column is one error line."""
    import csv
    for name, seconds in (("a", 30), ("b", 150)):
        rows = [{**r, "seconds": str(seconds)} for r in curve_rows(True)]
        with open(tmp_path / f"{name}.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader(), w.writerows(rows)
    out = tmp_path / "race.png"
    capsys.readouterr()
    assert main([str(out), f"fast={tmp_path / 'a.csv'}", f"slow={tmp_path / 'b.csv'}", "--minutes", "1,2,2.5"]) == 0
    with Image.open(out) as im:
        assert im.format == "PNG", im.format
    # fast: epochs of half a minute, scored 50, 50/3, 10 in epochs 1, 3, 5 (ending at 0.5, 1.5, 2.5
    # minutes); slow: epochs of 2.5 minutes, so nothing by minute 2 and epoch 1's score at 2.5
    table = capsys.readouterr().out.strip().splitlines()
    assert table == ["| minutes of training | 1 | 2 | 2.5 |", "|---|---|---|---|",
                     "| fast | 50.0 | 16.7 | 10.0 |", "| slow | — | — | 50.0 |"], table
    assert main([str(out), f"slow={tmp_path / 'b.csv'}"]) == 0          # default: every whole minute
    header = capsys.readouterr().out.splitlines()[0]
    assert header == "| minutes of training | " + " | ".join(str(m) for m in range(1, 13)) + " |", header
    assert main([str(out), f"fast={tmp_path / 'a.csv'}", "--minutes", "1,-2"]) == 2
    assert "is not a comma-separated list of positive minutes" in capsys.readouterr().err
    (tmp_path / "bad.csv").write_text("epoch,frechet\n1,3\n")
    assert main([str(tmp_path / "x.png"), f"bad={tmp_path / 'bad.csv'}"]) == 2
    assert "cannot read a run's metrics" in capsys.readouterr().err


def curve_rows(with_pr):
    """Five epochs of a metrics CSV, scored in epochs 1, 3 and 5 (empty strings elsewhere)."""
    rows = []
    for e in range(1, 6):
        scored = e % 2 == 1
        rows.append({"epoch": str(e), "d_loss": "1.2", "g_loss": "0.9", "d_real": "0.6", "d_fake": "0.4",
                     "acc_real": "0.7", "acc_fake": "0.6", "frechet": f"{50 / e}" if scored else "",
                     "entropy": "0.95" if scored else "",
                     **({"precision": f"{e / 10}" if scored else "", "recall": f"{e / 20}" if scored else ""}
                        if with_pr else {})})
    return rows


@pytest.mark.parametrize("with_pr", [True, False])
def test_quality_panel_draws_precision_and_recall_where_scored(tmp_path, monkeypatch, with_pr):
    from nanogan.eval import plots
    drawn = []
    monkeypatch.setattr(plots.plt, "close", drawn.append)       # keep the figure to look inside it
    plots.plot_curves(tmp_path / "c.png", curve_rows(with_pr), "t")
    assert (tmp_path / "c.png").stat().st_size > 0
    twin = drawn[0].axes[3]                                     # loss, D, Fréchet, and its 0-1 twin
    lines = {line.get_label(): (line.get_xdata().tolist(), line.get_ydata().tolist()) for line in twin.lines}
    expected = {"class entropy / log 10": ([1, 3, 5], [0.95] * 3)}
    if with_pr:
        expected |= {"precision": ([1, 3, 5], [0.1, 0.3, 0.5]), "recall": ([1, 3, 5], [0.05, 0.15, 0.25])}
    assert lines == expected, lines
