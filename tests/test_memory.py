"""sofi_dask._memory: the allocator setting the entry points apply (effect: test_out_of_core)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's"
)
def test_applied_on_glibc_in_a_fresh_process():
    code = (
        "from sofi_dask._memory import limit_allocator_retention as f; "
        "import sys; sys.exit(0 if f() and f(1 << 20) else 1)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_entry_points_apply_it():
    from pathlib import Path

    import sofi_dask

    root = Path(sofi_dask.__file__).parent
    for entry in ("cli/_main.py", "demo.py"):
        assert "limit_allocator_retention()" in (root / entry).read_text(), entry
