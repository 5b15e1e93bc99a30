"""``compose parse --prompt`` and ``compose parse --prompts FILE --jsonl``, as a user runs them."""

import io
import json
import subprocess
import sys

from compose.api import parse_prompt
from compose.cli.main import main
from compose.prompts import MAX_PROMPT_CHARS
from compose.scene import Scene


def compose(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "compose", *args], capture_output=True, text=True, check=False,
                          input=stdin, timeout=120)


def test_parse_prompt_json_in_a_subprocess():
    out = compose("parse", "--prompt", "three red apples to the left of a blue bowl", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["prompt"] == "three red apples to the left of a blue bowl"
    assert [o["id"] for o in data["objects"]] == ["apple#0", "apple#1", "apple#2", "bowl#0"]
    assert {(r["subject"], r["predicate"], r["object"]) for r in data["relations"]} == {
        (f"apple#{i}", "left_of", "bowl#0") for i in range(3)}
    assert Scene.from_json(out.stdout) == parse_prompt(data["prompt"])


def test_parse_prompt_summary_shows_the_program_and_warnings(capsys):
    assert main(["parse", "--prompt", "a dog chasing a cat, the cat is left of a red bench"]) == 0
    captured = capsys.readouterr()
    assert "cat left of bench" in captured.out and 'object bench "a red bench" color red' in captured.out
    assert "warning" in captured.err and "chasing" in captured.err


def test_parse_prompts_jsonl_keeps_order_and_skips_blank_lines(tmp_path, capsys):
    prompts = ["a photo of two dogs", "a cat between a dog and a bird", "a kitchen with no people"]
    path = tmp_path / "prompts.txt"
    path.write_text(prompts[0] + "\n\n" + "\n".join(prompts[1:]) + "\n")
    assert main(["parse", "--prompts", str(path), "--jsonl"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    scenes = [Scene.from_json(line) for line in lines]
    assert [json.loads(line)["prompt"] for line in lines] == prompts
    assert scenes == [parse_prompt(p) for p in prompts]
    assert all("\n" not in line and line.startswith("{") for line in lines)
    assert json.loads(lines[2])["forbid"] == ["person"]


def test_parse_prompts_from_stdin(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("a red cube\nTWO BLUE BALLS\n"))
    assert main(["parse", "--prompts", "-", "--jsonl"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(g["class"], g["count"], g["color"]) for row in rows for g in row["groups"]] == [
        ("cube", 1, "red"), ("ball", 2, "blue")]


def test_empty_prompt_is_a_coded_error_without_traceback(capsys):
    assert main(["parse", "--prompt", "   "]) == 3
    err = capsys.readouterr().err
    assert "error[E201]" in err and "Traceback" not in err


def test_overlong_prompt_is_a_coded_error(capsys):
    assert main(["parse", "--prompt", "a cat " * (MAX_PROMPT_CHARS // 4)]) == 3
    err = capsys.readouterr().err
    assert "error[E202]" in err and str(MAX_PROMPT_CHARS) in err


def test_the_example_prompts_read_cleanly(capsys):
    from pathlib import Path

    path = Path(__file__).parents[2] / "examples" / "prompts.txt"
    prompts = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    assert main(["parse", "--prompts", str(path), "--jsonl"]) == 0
    scenes = [Scene.from_json(line) for line in capsys.readouterr().out.splitlines()]
    assert [s.prompt for s in scenes] == prompts
    assert all(not s.warnings and (s.objects or s.forbidden) for s in scenes)
    between = next(s for s in scenes if "between" in s.prompt)
    assert [(st.subject.group, st.predicate, [r.group for r in st.objects]) for st in between.statements] == [
        ("diamond", "between", ["circle", "cross"])]
