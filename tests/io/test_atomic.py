"""The one atomic-output mechanism (sofi_dask.io._atomic): files and folders, on a real disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from sofi_dask.errors import InputError, OutputExistsError
from sofi_dask.io._atomic import AtomicOutputDir, atomic_output


def test_file_appears_only_complete_and_never_clobbers(tmp_path):
    out = tmp_path / "a.txt"
    with atomic_output(out) as tmp:
        tmp.write_text("one")
        assert tmp.parent == tmp_path and tmp.suffix == ".txt" and not out.exists()
    assert out.read_text() == "one"
    with pytest.raises(OutputExistsError, match="already exists"):
        with atomic_output(out):
            pass
    with pytest.raises(RuntimeError), atomic_output(out, overwrite=True) as tmp:
        tmp.write_text("half")
        raise RuntimeError("writer failed")
    assert out.read_text() == "one"
    with atomic_output(out, overwrite=True) as tmp:
        tmp.write_text("two")
    assert out.read_text() == "two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_file_refuses_inputs_and_folders(tmp_path):
    movie = tmp_path / "data"
    movie.mkdir()
    with pytest.raises(InputError, match="parameter 'output': expected a path apart from"):
        with atomic_output(movie / "x.png", protected=[movie]):
            pass
    with pytest.raises(InputError, match="parameter 'output': expected a file path"):
        with atomic_output(movie, overwrite=True):
            pass


def test_folder_replaces_only_what_replaceable_accepts(tmp_path):
    final = tmp_path / "out"
    committed = []
    with AtomicOutputDir(final, on_commit=committed.append) as tmp:
        (tmp / "sub").mkdir()
        (tmp / "sub" / "a.bin").write_bytes(b"x" * 10)
        assert not final.exists()
    assert (final / "sub" / "a.bin").read_bytes() == b"x" * 10
    assert committed == [final]
    with pytest.raises(OutputExistsError):
        AtomicOutputDir(final)
    with pytest.raises(InputError, match="a non-empty folder of something else"):
        AtomicOutputDir(final, overwrite=True)  # no replaceable: never deleted
    mine = AtomicOutputDir(final, overwrite=True, replaceable=lambda p: (p / "sub").is_dir())
    with mine as tmp:
        (tmp / "b.txt").write_text("new")
    assert sorted(p.name for p in final.iterdir()) == ["b.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_folder_error_leaves_the_old_output(tmp_path):
    final = tmp_path / "out"
    final.mkdir()
    (final / "keep").write_text("old")
    with pytest.raises(KeyError), AtomicOutputDir(final, overwrite=True, replaceable=bool) as tmp:
        (tmp / "partial").write_text("x")
        raise KeyError("boom")
    assert [p.name for p in final.iterdir()] == ["keep"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize("where", ["same", "inside", "around"])
def test_folder_refuses_the_input(tmp_path, where):
    data = tmp_path / "data" / "movie.zarr"
    data.mkdir(parents=True)
    out = {"same": data, "inside": data / "o", "around": tmp_path / "data"}[where]
    words = {"same": "is the input", "inside": "lies inside", "around": "contains the input"}
    with pytest.raises(InputError, match=f"parameter 'output': .*, got .*{words[where]}"):
        AtomicOutputDir(out, protected=[data], overwrite=True)


def _record_flushes(monkeypatch) -> list[str]:
    """The names io._atomic flushes, in order; the real fsync still runs."""
    from sofi_dask.io import _atomic

    flushed: list[str] = []
    real = _atomic._fsync

    def recording(path, *, directory=False):
        flushed.append(Path(path).name)
        real(path, directory=directory)

    monkeypatch.setattr(_atomic, "_fsync", recording)
    return flushed


def test_files_in_an_output_folder_are_flushed_once_by_its_commit(tmp_path, monkeypatch):
    """A file written by atomic_output inside an AtomicOutputDir is not flushed on its own;
    the folder's commit flushes it (and every folder) once. Alone, a file and its folder are
    flushed at once. The real fsync runs; the calls are recorded."""
    from sofi_dask.io import _atomic

    flushed = _record_flushes(monkeypatch)
    final = tmp_path / "out"
    with _atomic.AtomicOutputDir(final) as tmp:
        (tmp / "sub").mkdir()
        for name in ("a.bin", "b.bin"):
            with _atomic.atomic_output(tmp / "sub" / name) as part:
                part.write_bytes(b"x" * 1000)
        assert flushed == []
    # every file and folder once, together on threads (no order: the rename comes after all)
    tmp_name = next(n for n in flushed if n.startswith(".out"))
    assert sorted(flushed[:4]) == sorted(["a.bin", "b.bin", "sub", tmp_name])
    assert flushed[4:] == [tmp_path.name]  # then the parent folder, for the rename
    assert (final / "sub" / "a.bin").read_bytes() == b"x" * 1000
    flushed.clear()
    with _atomic.atomic_output(tmp_path / "alone.bin") as part:
        part.write_bytes(b"y")
    assert flushed[0].startswith(".alone.partial-") and flushed[1] == tmp_path.name


def test_a_folder_named_like_a_partial_one_is_not_taken_for_one(tmp_path, monkeypatch):
    """Only an AtomicOutputDir open in this context spares its files their own flush, not a
    folder that merely carries its name tag (e.g. one left by a killed writer)."""
    from sofi_dask.io import _atomic

    flushed = _record_flushes(monkeypatch)
    lookalike = tmp_path / f".out{_atomic.PARTIAL_TAG}1-abcd"
    lookalike.mkdir()
    with _atomic.atomic_output(lookalike / "a.bin") as part:
        part.write_bytes(b"x")
    assert flushed[0].startswith(".a.partial-") and flushed[1] == lookalike.name
    flushed.clear()
    with _atomic.AtomicOutputDir(tmp_path / "out") as tmp:
        with _atomic.atomic_output(tmp / "b.bin") as part:
            part.write_bytes(b"y")
        assert flushed == []
    with _atomic.atomic_output(tmp_path / "c.bin") as part:  # the folder is closed: flushed
        part.write_bytes(b"z")
    assert flushed[-2].startswith(".c.partial-") and flushed[-1] == tmp_path.name


def test_files_written_on_threads_inside_an_output_folder_are_flushed_once(tmp_path, monkeypatch):
    """A run writes its files on a pool of threads given its context: they too leave the flush
    to the commit. A thread without the context flushes its file itself (never less durable)."""
    import contextvars
    from concurrent.futures import ThreadPoolExecutor

    from sofi_dask.io import _atomic

    flushed = _record_flushes(monkeypatch)

    def write(path):
        with _atomic.atomic_output(path) as part:
            part.write_bytes(b"x")

    with _atomic.AtomicOutputDir(tmp_path / "out") as tmp:
        with ThreadPoolExecutor(2) as pool:
            jobs = [
                pool.submit(contextvars.copy_context().run, write, tmp / name)
                for name in ("a.bin", "b.bin")
            ]
            [job.result() for job in jobs]
        assert flushed == []
    # the two files and the folder, once each, then the parent for the rename
    files = sorted(n for n in flushed[:3] if not n.startswith(".out"))
    assert files == ["a.bin", "b.bin"] and len(flushed) == 4
    flushed.clear()
    with _atomic.AtomicOutputDir(tmp_path / "out2") as tmp:
        with ThreadPoolExecutor(1) as pool:
            pool.submit(write, tmp / "c.bin").result()  # no context given: flushed by itself
        assert flushed[0].startswith(".c.partial-")
