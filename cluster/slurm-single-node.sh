#!/usr/bin/env bash
# A single-node SLURM on this machine (127.0.0.1), to try the cluster/ recipes on a laptop or a
# workstation and to run `make test-hpc`. Needs root (or sudo) and Debian/Ubuntu's apt-get.
#
#   sudo cluster/slurm-single-node.sh start /tmp/slurm     # installs slurm-wlm + munge if needed
#   export SLURM_CONF=/tmp/slurm/slurm.conf                 # sbatch, squeue, ... use this config
#   sbatch --cpus-per-task=1 --mem=2G cluster/slurm-scheduler-file.sbatch movie.zarr out
#   sudo cluster/slurm-single-node.sh stop /tmp/slurm      # stops the daemons it started
#
# `start` writes slurm.conf, the spool/state/log folders and daemons.pid under DIR, starts
# munged (unless one already answers), slurmctld and slurmd, and waits until the node is idle.
# `stop` kills exactly the processes listed in DIR/daemons.pid. Exit status 3: apt-get is not
# available and SLURM is not installed (the caller may skip).
set -euo pipefail

usage() { echo "usage: $0 start|stop|status DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
ACTION=$1
DIR=$2
PIDS=$DIR/daemons.pid

log() { echo "slurm-single-node: $*" >&2; }

stop() {
    [ -f "$PIDS" ] || return 0
    local name pid jobs
    # jobs of this (private) cluster first, so that no job process outlives slurmd
    jobs=$(SLURM_CONF=$DIR/slurm.conf squeue -h -o %i 2>/dev/null || true)
    if [ -n "$jobs" ]; then
        # shellcheck disable=SC2086
        SLURM_CONF=$DIR/slurm.conf scancel $jobs 2>/dev/null || true
        for _ in $(seq 30); do
            [ -z "$(SLURM_CONF=$DIR/slurm.conf squeue -h -o %i 2>/dev/null)" ] && break
            sleep 0.5
        done
        log "cancelled jobs: $(echo $jobs)"
    fi
    while read -r name pid; do
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
            log "stopped $name (pid $pid)"
        fi
    done < <(tac "$PIDS")   # slurmd, slurmctld, then munged
    rm -f "$PIDS"
}

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
        && command -v munged >/dev/null && command -v sbatch >/dev/null; then
        return 0
    fi
    if ! command -v apt-get >/dev/null; then
        log "apt-get is not available: cannot install slurm-wlm and munge"
        exit 3
    fi
    [ "$(id -u)" -eq 0 ] || { log "installing slurm-wlm and munge needs root"; exit 1; }
    log "installing slurm-wlm and munge (apt-get)"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        slurm-wlm munge </dev/null >/dev/null
}

munge_ok() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munge() {
    if munge_ok; then
        log "munged already running: reusing it"
        return 0
    fi
    # a fresh 1024-byte key, readable by munge only
    install -d -o munge -g munge -m 0700 /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
    runuser -u munge -- /usr/sbin/munged --foreground >"$DIR/log/munged.log" 2>&1 &
    echo "munged $!" >>"$PIDS"
    for _ in $(seq 100); do munge_ok && return 0; sleep 0.1; done
    log "munged did not start: $(tail -3 "$DIR/log/munged.log")"
    exit 1
}

write_conf() {
    local host cpus mem
    host=$(hostname -s)
    cpus=$(nproc --all)
    # what slurmd will report, less 10 % for the system
    mem=$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
    mkdir -p "$DIR/spool/ctld" "$DIR/spool/d" "$DIR/log"
    cat >"$DIR/slurm.conf" <<EOF
# written by cluster/slurm-single-node.sh: one node, everything on 127.0.0.1
ClusterName=sofidask
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=${SLURMCTLD_PORT:-6817}
SlurmdPort=${SLURMD_PORT:-6818}
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$DIR/spool/ctld
SlurmdSpoolDir=$DIR/spool/d
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.log
MpiDefault=none
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
MinJobAge=300
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

start() {
    [ "$(id -u)" -eq 0 ] || { log "starting the daemons needs root"; exit 1; }
    install_packages
    if [ -f "$PIDS" ]; then
        log "$PIDS exists: stop the running instance first ($0 stop $DIR)"
        exit 1
    fi
    mkdir -p "$DIR/log"
    : >"$PIDS"
    start_munge
    write_conf
    export SLURM_CONF=$DIR/slurm.conf
    /usr/sbin/slurmctld -D -i -f "$SLURM_CONF" >>"$DIR/log/slurmctld.out" 2>&1 &
    echo "slurmctld $!" >>"$PIDS"
    for _ in $(seq 100); do scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.2; done
    /usr/sbin/slurmd -D -f "$SLURM_CONF" >>"$DIR/log/slurmd.out" 2>&1 &
    echo "slurmd $!" >>"$PIDS"
    local state=
    for _ in $(seq 150); do
        state=$(sinfo -h -N -o %t 2>/dev/null | head -1)
        [ "$state" = idle ] && break
        sleep 0.2
    done
    if [ "$state" != idle ]; then
        log "the node did not become idle (state '$state'); logs in $DIR/log:"
        tail -5 "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" >&2 || true
        stop
        exit 1
    fi
    log "SLURM up: export SLURM_CONF=$SLURM_CONF"
    sinfo >&2
}

case "$ACTION" in
    start) start ;;
    stop) stop ;;
    status) SLURM_CONF=$DIR/slurm.conf sinfo ;;
    *) usage ;;
esac
