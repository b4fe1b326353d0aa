"""Content fingerprints of a frame sequence, taken from the bytes the ingest reads.

A store records its source's identity (path, size, mtime and content fingerprint of every
file, :meth:`~sofi_dask.io._tiff.TiffSource.identity`). For one file per frame (10^4-10^5
files) fingerprinting every file before the ingest is a second open and five reads of each
file; instead the unfinished store records path, size and mtime (``"content": None``), each
ingest task records the fingerprints of the files it reads in ``_ingest/digests`` (from the
bytes it read for decoding, with the same definition, :func:`~sofi_dask.io._tiff.content_digest`),
and the complete store gets the full identity, the same as a fingerprint taken beforehand.

A resumed ingest checks, before writing anything, that the files of the time chunks already
written still have the recorded fingerprints (a file replaced by another of the same size and
mtime is refused, as for other sources).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import zarr

from sofi_dask.errors import OutputExistsError
from sofi_dask.io._ingest import DIGESTS, IngestPlan, digest_bytes
from sofi_dask.io._store import checksum_codecs, done_records
from sofi_dask.io._tiff import DIGEST_PREFIX, TiffSource, content_digest

__all__ = ["check_recorded", "completed_identity", "create_record", "deferred"]


def deferred(source: TiffSource) -> bool:
    """True when the ingest of ``source`` takes the fingerprints from its own reads."""
    return bool(source.frame_files)


def create_record(group: zarr.Group, n_frames: int, depth: int) -> None:
    """The (frames, 16) uint8 array of fingerprints (zeros: not recorded yet)."""
    group.create_array(
        DIGESTS,
        shape=(n_frames, 16),
        chunks=(depth, 16),
        dtype="uint8",
        fill_value=0,
        compressors=checksum_codecs(),
    )


def check_recorded(dest: Path, group: zarr.Group, source: TiffSource, plan: IngestPlan) -> None:
    """Refuse to resume when a file of an already written time chunk changed content."""
    if DIGESTS not in group:
        return
    done = done_records(group)
    recorded = np.asarray(group[DIGESTS][...])
    for i in np.flatnonzero(done[:, 0]):  # the first band's task records the time chunk's
        t0, t1 = plan.frames(int(i))
        now = digest_bytes([content_digest(lay) for lay in source.layouts[t0:t1]])
        bad = np.flatnonzero((now != recorded[t0:t1]).any(axis=1))
        if bad.size:
            path = source.layouts[t0 + int(bad[0])].path
            raise OutputExistsError(
                f"{dest}: holds an unfinished ingest of another source ({path} changed since "
                "it was written: same size and time stamp, other content); pass "
                "overwrite=True (--overwrite) to replace it"
            )


def completed_identity(
    group: zarr.Group, source: TiffSource, identity: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``identity`` with the recorded fingerprints (any not recorded is taken now)."""
    recorded = np.asarray(group[DIGESTS][...]) if DIGESTS in group else None
    out = []
    for k, entry in enumerate(identity):
        row = None if recorded is None or k >= len(recorded) else recorded[k]
        if row is None or not row.any():
            content = content_digest(source.layouts[k])
        else:
            content = DIGEST_PREFIX + bytes(row).hex()
        out.append({**entry, "content": content})
    return out
