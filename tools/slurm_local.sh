#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, to try `hydra/launcher=slurm` for real.
#
#   tools/slurm_local.sh        # then: sinfo; python -m harness.train -m hydra/launcher=slurm ...
#
# Debian/Ubuntu only (apt-get). Installs slurm-wlm and munge, writes /etc/slurm/slurm.conf for
# this host alone (its hostname, nproc CPUs, a bit under its memory, one default partition
# `local`, no accounting), creates a munge key if there is none, starts munged, slurmctld and
# slurmd directly (no systemd needed) and waits until `sinfo` shows the node idle. Idempotent:
# what is installed, written or running already is left as it is (a changed slurm.conf is
# applied with `scontrol reconfigure`). Uses sudo only when not run as root. The daemons keep
# running after it exits; logs in /var/log/slurm/. No accounting means `sacct` does not work:
# submitit, which polls it, logs one warning per poll (see the README).
set -euo pipefail

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
say() { echo "slurm_local: $*"; }

# 1. packages (policy-rc.d, if present, keeps apt from starting services itself)
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
    || ! command -v sinfo >/dev/null || ! command -v munged >/dev/null; then
  say "installing slurm-wlm and munge (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  LOG=$(mktemp)
  { $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends slurm-wlm munge; } >"$LOG" 2>&1 \
    || { cat "$LOG"; say "apt-get failed"; exit 1; }
  rm -f "$LOG"
fi

# 2. configuration: this host, its CPUs, a bit under its memory
HOST=$(hostname -s)
CPUS=$(nproc)
MEM_MB=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
REAL_MB=$(( MEM_MB > 2048 ? MEM_MB - MEM_MB / 20 - 256 : MEM_MB * 3 / 4 ))  # ~5% + 256 MB spare
SLURM_USER=root
getent passwd slurm >/dev/null && SLURM_USER=slurm
CONF=/etc/slurm/slurm.conf
NEW=$(mktemp)
trap 'rm -f "$NEW"' EXIT
cat >"$NEW" <<EOF
# Written by tools/slurm_local.sh: a single-node cluster on ${HOST}.
ClusterName=local
SlurmctldHost=${HOST}
SlurmUser=${SLURM_USER}
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=512
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# a job asking for more than this node has is refused by sbatch, not left pending forever
EnforcePartLimits=ALL
ReturnToService=2
KillWait=10
SlurmdTimeout=60
SchedulerType=sched/backfill
NodeName=${HOST} CPUs=${CPUS} RealMemory=${REAL_MB} State=UNKNOWN
PartitionName=local Nodes=${HOST} Default=YES MaxTime=INFINITE State=UP
EOF
$SUDO mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/slurm
$SUDO chown "$SLURM_USER" /var/spool/slurmctld /var/log/slurm /run/slurm
CHANGED=0
if ! $SUDO cmp -s "$NEW" "$CONF" 2>/dev/null; then
  $SUDO install -m 644 "$NEW" "$CONF"
  CHANGED=1
  say "wrote $CONF (NodeName=$HOST CPUs=$CPUS RealMemory=$REAL_MB)"
fi

# 3. munge: a key, then the daemon (as the munge user, as its package intends)
if [ ! -s /etc/munge/munge.key ]; then
  $SUDO mkdir -p /etc/munge
  $SUDO dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  say "created /etc/munge/munge.key"
fi
$SUDO chown munge:munge /etc/munge/munge.key
$SUDO chmod 400 /etc/munge/munge.key
$SUDO mkdir -p /run/munge /var/log/munge /var/lib/munge
$SUDO chown munge:munge /run/munge /var/log/munge /var/lib/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  $SUDO runuser -u munge -- /usr/sbin/munged --force
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.2; done
  munge -n | unmunge >/dev/null || { say "munged did not start (see /var/log/munge/)"; exit 1; }
  say "started munged"
fi

# 4. the controller and the node daemon, each started only if it is not running
if ! pgrep -x slurmctld >/dev/null; then
  $SUDO /usr/sbin/slurmctld
  say "started slurmctld"
elif [ "$CHANGED" = 1 ]; then
  $SUDO scontrol reconfigure && say "slurmctld re-read $CONF"
fi
if ! pgrep -x slurmd >/dev/null; then
  $SUDO /usr/sbin/slurmd
  say "started slurmd"
fi

# 5. wait for the node: idle (or already running jobs); resume it if down or drained
for i in $(seq 60); do
  STATE=$(sinfo -h -n "$HOST" -o %T 2>/dev/null | head -1 || true)
  case "$STATE" in
    idle|mixed|allocated|completing) break ;;
    down*|drain*|drained*) $SUDO scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true ;;
  esac
  sleep 1
done
case "$STATE" in
  idle|mixed|allocated|completing) ;;
  *) say "node $HOST is '${STATE:-not answering}' (see /var/log/slurm/)"; exit 1 ;;
esac
say "ready: $(sinfo -h -o '%P %D %T %c cpus %m MB' | head -1)"
