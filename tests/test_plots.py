"""The coverage chart command: reads --eval-json files, draws a PNG, refuses bad files in one line."""
import json

import pytest
from PIL import Image

from nanogan.plots import main


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
    with pytest.raises(SystemExit) as e:
        main([str(tmp_path / "out.png"), f"run={bad}"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and says in err, f"exit {e.value.code}, stderr {err!r}"
    assert "Traceback" not in err and not (tmp_path / "out.png").exists()


def test_spec_without_label(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main([str(tmp_path / "out.png"), str(write(tmp_path / "a.json", [1] * 10))])
    assert "is not LABEL=FILE.json" in capsys.readouterr().err
