"""The ``xemap`` command line: help without reST, and a clear error when torch is missing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from xemap.cli import COMMANDS, main


@pytest.mark.parametrize("argv", [["--help"], *[[c, "--help"] for c in COMMANDS]])
def test_help_is_plain_text(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: xemap")
    for rest in ("``", ":func:", ":class:", ":mod:"):
        assert rest not in text, (argv, rest)
    if argv == ["--help"]:
        assert all(c in text for c in COMMANDS)


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "usage: xemap" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["train", "predict", "demo", "selo"])
def test_without_torch_an_error_line_names_the_extra(command):
    # a fresh interpreter in which torch cannot be imported, as on an install without the extra
    code = (
        "import sys; sys.modules['torch'] = None; from xemap.cli import main; "
        f"sys.exit(main([{command!r}, 'x.json']))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"xemap {command}: error: needs torch")
    assert "pip install 'selo-metrics[xemap]'" in err[0]
    assert "Traceback" not in proc.stderr


def test_help_works_without_torch():
    code = "import sys; sys.modules['torch'] = None; from xemap.cli import main; main(['--help'])"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "train" in proc.stdout, proc.stderr


def test_train_usage_errors_exit_2(tmp_path, capsys):
    assert main(["train", str(tmp_path / "nope.json")]) == 2
    assert "xemap train: error:" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text("{not json")
    assert main(["train", str(tmp_path / "bad.json")]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    (tmp_path / "cfg.json").write_text('{"model": {"family": "nope"}, "train": ["m.jsonl"]}')
    assert main(["train", str(tmp_path / "cfg.json")]) == 2
    assert "unknown family" in capsys.readouterr().err
