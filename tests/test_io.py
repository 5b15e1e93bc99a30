"""compose.io: reads bounded to regular files, writes atomic, rows never written through links."""

from __future__ import annotations

import os

import pytest

from compose.errors import UsageError
from compose.io import (
    RowWriter,
    read_bytes,
    read_rows,
    read_text,
    sha256_file,
    write_png_atomic,
    write_text_atomic,
    write_tree_atomic,
)


def test_read_text_round_trips_and_strips_a_bom(tmp_path):
    path = tmp_path / "a.scene"
    path.write_bytes("\ufeffobject cat \"a cat\"\n".encode())
    assert read_text(path) == 'object cat "a cat"\n'


@pytest.mark.parametrize("make, kind", [
    (lambda p: p.mkdir(), "a folder"),
    (lambda p: os.mkfifo(p), "a FIFO"),
])
def test_read_refuses_what_is_not_a_regular_file(tmp_path, make, kind):
    path = tmp_path / "thing"
    make(path)
    with pytest.raises(UsageError) as err:
        read_text(path)
    assert err.value.code == "E007" and kind in err.value.message


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_device_is_refused_before_anything_is_read():
    with pytest.raises(UsageError) as err:
        read_bytes("/dev/zero")
    assert err.value.code == "E007"


def test_the_size_limit_is_enforced(tmp_path):
    path = tmp_path / "big.txt"
    path.write_bytes(b"x" * 101)
    with pytest.raises(UsageError) as err:
        read_bytes(path, limit=100)
    assert err.value.code == "E003"
    assert read_bytes(path, limit=101) == b"x" * 101


def test_not_utf8_and_missing_files_are_coded(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe\xfa")
    with pytest.raises(UsageError) as err:
        read_text(bad)
    assert err.value.code == "E004"
    with pytest.raises(UsageError) as err:
        read_text(tmp_path / "missing.txt")
    assert err.value.code == "E001"


def test_atomic_writes_leave_no_temporary_files(tmp_path):
    write_text_atomic(tmp_path / "deep" / "a.txt", "one")
    write_text_atomic(tmp_path / "deep" / "a.txt", "two")
    assert [p.name for p in (tmp_path / "deep").iterdir()] == ["a.txt"]
    assert (tmp_path / "deep" / "a.txt").read_text() == "two"


def test_an_atomic_write_replaces_a_symlink_instead_of_following_it(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    link = tmp_path / "out.txt"
    link.symlink_to(victim)
    write_text_atomic(link, "new")
    assert victim.read_text() == "keep me"
    assert not link.is_symlink() and link.read_text() == "new"


def test_rows_are_never_written_through_a_symlink(tmp_path):
    victim = tmp_path / "victim.jsonl"
    victim.write_text('{"id": "precious"}\n{"torn"')
    link = tmp_path / "results.jsonl"
    link.symlink_to(victim)
    with pytest.raises(UsageError) as err:
        RowWriter(link)
    assert err.value.code == "E007"
    with pytest.raises(UsageError):
        read_rows(link, repair=True)
    assert victim.read_text() == '{"id": "precious"}\n{"torn"'


def test_a_torn_last_row_is_cut_on_repair(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"id": "a"}\nnot json\n{"id": "b"}\n{"id": "c", "to')
    assert [r["id"] for r in read_rows(path)] == ["a", "b"]
    read_rows(path, repair=True)
    assert path.read_text().endswith('{"id": "b"}\n')


def test_a_tree_is_written_whole_and_cannot_leave_its_folder(tmp_path):
    write_tree_atomic(tmp_path / "item", {"a.txt": b"1", "sub/b.txt": b"2"})
    assert (tmp_path / "item" / "sub" / "b.txt").read_bytes() == b"2"
    write_tree_atomic(tmp_path / "item", {"c.txt": b"3"})
    assert sorted(p.name for p in (tmp_path / "item").iterdir()) == ["c.txt"]
    with pytest.raises(ValueError):
        write_tree_atomic(tmp_path / "evil", {"../escape.txt": b"x"})


def test_png_and_digest(tmp_path):
    from PIL import Image

    write_png_atomic(Image.new("RGB", (4, 4), (255, 0, 0)), tmp_path / "a.png")
    with Image.open(tmp_path / "a.png") as image:
        assert image.size == (4, 4) and image.getpixel((0, 0)) == (255, 0, 0)
    (tmp_path / "d.bin").write_bytes(b"abc")
    assert sha256_file(tmp_path / "d.bin") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
