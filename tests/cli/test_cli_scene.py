"""The spine's commands, run as a user runs them: in a subprocess, through the installed entry point."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from compose.cli.main import main

EXAMPLES = Path(__file__).parents[2] / "examples"


def compose(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "compose", *args], capture_output=True, text=True, check=False,
                          input=stdin, timeout=120)


def test_parse_json_of_an_example():
    out = compose("parse", str(EXAMPLES / "kitchen.scene"), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert [o["id"] for o in data["objects"]][:3] == ["kettle#0", "mug#0", "mug#1"]
    assert data["forbid"] == ["dog"] and data["seed"] == 7


def test_parse_summary_prints_the_canonical_program(capsys):
    assert main(["parse", str(EXAMPLES / "shapes.scene")]) == 0
    out = capsys.readouterr().out
    assert "circle#2" in out and "circle left of square" in out


def test_syntax_error_exit_code_and_excerpt(tmp_path):
    bad = tmp_path / "bad.scene"
    bad.write_text('object mug "a mug"\nmug lefty of mug\n')
    out = compose("check", str(bad))
    assert out.returncode == 3
    assert "error[E101]" in out.stderr and f"{bad}:2:5" in out.stderr and "^^^^^" in out.stderr
    assert "Traceback" not in out.stderr


def test_debug_shows_the_traceback(tmp_path):
    bad = tmp_path / "bad.scene"
    bad.write_text('object mug "a mug" count 0\n')
    out = compose("--debug", "check", str(bad))
    assert out.returncode != 0 and "Traceback" in out.stderr and "E109" in out.stderr


def test_missing_file_is_a_usage_error(tmp_path):
    out = compose("parse", str(tmp_path / "nope.scene"))
    assert out.returncode == 2 and "error[E001]" in out.stderr and "Traceback" not in out.stderr


def test_binary_file_is_a_usage_error(tmp_path):
    junk = tmp_path / "junk.scene"
    junk.write_bytes(bytes(range(256)) * 10)
    out = compose("check", str(junk))
    assert out.returncode == 2 and "E004" in out.stderr


def test_usage_errors_exit_2():
    assert compose("parse").returncode == 2
    assert compose("frobnicate").returncode == 2


def test_fmt_check_and_rewrite(tmp_path):
    messy = tmp_path / "messy.scene"
    messy.write_text('# keep me\nobject   b "a ball"  color red\nobject a "an apple"\na   left of b\n')
    assert compose("fmt", "--check", str(messy)).returncode == 1
    assert messy.read_text().startswith("# keep me\nobject   b")  # --check changes nothing
    assert compose("fmt", str(messy)).returncode == 0
    assert messy.read_text() == '# keep me\nobject b "a ball" color red\nobject a "an apple"\n\na left of b\n'
    assert compose("fmt", "--check", str(messy)).returncode == 0


def test_schema_is_json():
    out = compose("schema")
    assert out.returncode == 0 and json.loads(out.stdout)["title"] == "compose scene"


def test_check_many_files_reports_each(tmp_path):
    good, bad = tmp_path / "good.scene", tmp_path / "bad.scene"
    good.write_text('object a "a"\n')
    bad.write_text('object a "a" color mauve\n')
    out = compose("check", str(good), str(bad))
    assert out.returncode == 3 and "E111" in out.stderr


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.scene")))
def test_every_example_checks(name):
    assert main(["check", str(EXAMPLES / name)]) == 0


def test_prompt_file_with_a_bad_line_keeps_going(tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red cat\n\n" + "a dog " * 500 + "\ntwo dogs left of a tree\n")
    out = compose("parse", "--prompts", str(prompts), "--jsonl")
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert out.returncode == 3 and len(rows) == 3
    assert rows[0]["objects"][0]["class"] == "cat"
    assert rows[1] == {"line": 3, "error": {"code": "E202", "message": rows[1]["error"]["message"]}}
    assert [o["id"] for o in rows[2]["objects"]] == ["dog#0", "dog#1", "tree#0"]
