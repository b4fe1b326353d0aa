# Sourced by the cluster/ job scripts: make `sofi-dask`, `dask` and `python` of sofi_dask's
# environment available. SOFI_DASK_ENV (a virtual environment or conda prefix) wins; else the
# .venv of the checkout this file lives in (`make test` creates it); else the environment
# already on PATH (sbatch exports the submitting shell's environment by default).

SOFI_DASK_CHECKOUT=${SOFI_DASK_CHECKOUT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
SOFI_DASK_ENV=${SOFI_DASK_ENV:-$SOFI_DASK_CHECKOUT/.venv}
if [ -f "$SOFI_DASK_ENV/bin/activate" ]; then
    # shellcheck disable=SC1091
    source "$SOFI_DASK_ENV/bin/activate"
elif [ -x "$SOFI_DASK_ENV/bin/python" ]; then         # a conda prefix
    export PATH=$SOFI_DASK_ENV/bin:$PATH
elif ! command -v sofi-dask >/dev/null; then
    echo "sofi-dask: no environment at SOFI_DASK_ENV=$SOFI_DASK_ENV and none on PATH;" \
        "run 'make test' in $SOFI_DASK_CHECKOUT or submit with SOFI_DASK_ENV=/path/to/env" >&2
    exit 1
fi
# zarr 3 runs an asyncio loop on a thread: worker processes are spawned, never forked
export DASK_DISTRIBUTED__WORKER__MULTIPROCESSING_METHOD=spawn
echo "sofi-dask: environment $(dirname "$(dirname "$(command -v python)")")" >&2
