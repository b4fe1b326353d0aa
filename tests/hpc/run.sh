#!/usr/bin/env bash
# `make test-hpc`: a single-node SLURM on 127.0.0.1 (cluster/slurm-single-node.sh), then the
# tests of tests/hpc against it: the cluster/ recipes submitted as cluster/README.md says.
# Every daemon started here is stopped by pid on exit, also on failure or interrupt.
# Skipped (exit 0, with a message) only where apt-get is unavailable and SLURM not installed.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}

if [ "$(id -u)" -ne 0 ] && ! command -v slurmctld >/dev/null; then
    echo "test-hpc: SKIPPED: installing and starting SLURM needs root" >&2
    exit 0
fi
if ! command -v apt-get >/dev/null && ! command -v slurmctld >/dev/null; then
    echo "test-hpc: SKIPPED: apt-get is not available to install slurm-wlm and munge" >&2
    exit 0
fi

DIR=$(mktemp -d /tmp/sofi-dask-slurm.XXXXXX)
chmod 755 "$DIR"
cleanup() {
    local rc=$?
    cluster/slurm-single-node.sh stop "$DIR" || true
    if [ "$rc" -ne 0 ] && [ -d "$DIR/log" ]; then
        echo "test-hpc: failed (status $rc); SLURM logs:" >&2
        tail -n 20 "$DIR"/log/*.log >&2 || true
    fi
    rm -rf "$DIR"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start=$(date +%s)
cluster/slurm-single-node.sh start "$DIR" </dev/null || {
    rc=$?
    [ "$rc" -eq 3 ] && { echo "test-hpc: SKIPPED: apt-get unavailable" >&2; exit 0; }
    exit "$rc"
}
echo "test-hpc: SLURM up in $(( $(date +%s) - start )) s" >&2
export SOFI_DASK_TEST_SLURM=$DIR SLURM_CONF=$DIR/slurm.conf
"$PYTHON" -m pytest -q -s -p no:cacheprovider -o addopts="-ra --strict-markers --import-mode=importlib" -m hpc --timeout 480 tests/hpc </dev/null
echo "test-hpc: done in $(( $(date +%s) - start )) s" >&2
