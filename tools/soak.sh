#!/usr/bin/env bash
# The soak: a long run of the release collector under every fault at once,
# then a check that nothing was lost and that memory and descriptors stayed
# flat. Not part of CI (it takes as long as it is told to); tools/SOAK.md
# gives how to run it and its latest figures.
#
#   tools/soak.sh [SECONDS] [LINES_PER_SEC]     (defaults: 3600 and 50000)
#
# What happens over SECONDS:
# - pysyslog-flood processes one after the other, each 4 connections for
#   about 10 s at LINES_PER_SEC: new connections every 10 s (churn);
# - every 60 s the output is renamed and the collector sent SIGHUP, as
#   logrotate does (skipped while the disk is full);
# - the writer is killed (SIGKILL) at every sixth of the run;
# - at 45% of the run the output's file system is filled for 60 s;
# - every line is also forwarded by a SysLogHandler over TCP (with
#   --spool-dir under the work directory) to a second release collector, the
#   forwarding target, which writes it to a file of its own (rotated with
#   the output); the target is stopped (SIGTERM) for 60 s in every 600 s,
#   from 120 s on, and started again on the same port;
# - every 10 s the RSS and open descriptors of the receiver and the current
#   writer are sampled.
# At the end (once the backlog is delivered): every line of every flood was
# written (duplicates at most one batch per kill) and reached the target
# (duplicates at most a socket buffer's worth per kill or target restart),
# no line nobody sent, and RSS and descriptors of both
# processes after the fifth minute within 20% (RSS) and 8 (fds) of their
# values at the fifth minute. Prints a JSON summary; exits 1 on a failure.
#
# Needs root (it mounts a tmpfs for the output) and a release build:
#   cargo build --release --workspace
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${1:-3600}
rate=${2:-50000}
size=120
bin=target/release/pysyslog
flood=target/release/pysyslog-flood
for b in "$bin" "$flood"; do
  [ -x "$b" ] || { echo "soak: $b missing: cargo build --release --workspace" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "soak: needs root to mount the output's tmpfs" >&2; exit 2; }

work=$(mktemp -d /tmp/pysyslog-soak.XXXXXX)
out=$work/out
# The target's file is on the work directory's disk, not the full one.
tout=$work/target
mkdir -p "$out" "$tout"
# Room for a few minutes of output at the rate (the verifier deletes each
# rotated file once counted), at least 256 MiB.
mib=$(( rate * size * 240 / 1048576 ))
[ "$mib" -lt 256 ] && mib=256
mount -t tmpfs -o size=${mib}m tmpfs "$out"
pids=()
target=
cleanup() {
  [ -n "$target" ] && kill "$target" 2>/dev/null || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  umount "$out" 2>/dev/null || umount -l "$out" || true
}
trap cleanup EXIT

cat >"$work/logging.json" <<EOF
{"version": 1,
 "formatters": {"m": {"format": "%(message)s"}},
 "handlers": {
   "out": {"class": "logging.FileHandler", "filename": "$out/out.log", "formatter": "m"},
   "fwd": {"class": "logging.handlers.SysLogHandler", "address": ["127.0.0.1", TPORT],
           "socktype": "ext://socket.SOCK_STREAM", "formatter": "m"},
   "own": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}},
 "loggers": {"pysyslog": {"level": "INFO", "handlers": ["own"], "propagate": false}},
 "root": {"level": "INFO", "handlers": ["out", "fwd"]}}
EOF
cat >"$work/target.json" <<EOF
{"version": 1,
 "formatters": {"m": {"format": "%(message)s"}},
 "handlers": {
   "out": {"class": "logging.FileHandler", "filename": "$tout/out.log", "formatter": "m"},
   "own": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}},
 "loggers": {"pysyslog": {"level": "INFO", "handlers": ["own"], "propagate": false}},
 "root": {"level": "INFO", "handlers": ["out"]}}
EOF

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
listening() { ss -Hltn "sport = :$1" | grep -q .; }
tport=$(free_port)
sed -i "s/TPORT/$tport/" "$work/logging.json"
start_target() {
  "$bin" 127.0.0.1 "$tport" --logging-config "$work/target.json" 2>>"$work/target.stderr.log" &
  target=$!
  for _ in $(seq 1 200); do listening "$tport" && return 0; sleep 0.05; done
  echo "soak: the forwarding target did not start" >&2
  cat "$work/target.stderr.log" >&2
  exit 1
}
# In order, as a restart: it reads what its peers sent and writes it first.
stop_target() {
  kill -TERM "$target"
  wait "$target" || true
  target=
}
start_target

port=$(free_port)
"$bin" 127.0.0.1 "$port" --logging-config "$work/logging.json" \
  --spool-dir "$work/spool" 2>"$work/stderr.log" &
collector=$!
pids+=("$collector")
for _ in $(seq 1 200); do
  grep -q "Listening for syslog" "$work/stderr.log" 2>/dev/null && break
  sleep 0.05
done
grep -q "Listening for syslog" "$work/stderr.log" || { cat "$work/stderr.log" >&2; exit 1; }

# The collector started is the monitor; its children name themselves.
child_named() {
  local p
  for p in $(cat "/proc/$collector/task/$collector/children" 2>/dev/null); do
    [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$1" ] && { echo "$p"; return 0; }
  done
  # None (a writer being replaced): an empty answer, not a failure under set -e.
  return 0
}
writer_pid() { child_named pysyslog-writer; }
receiver_pid() { child_named pysyslog-recv; }

python3 tools/soak_check.py "$out" "$work/manifest" "$size" >"$work/check.json" &
checker=$!
pids+=("$checker")
python3 tools/soak_check.py "$tout" "$work/manifest" "$size" forwarded >"$work/target_check.json" &
tchecker=$!
pids+=("$tchecker")
: >"$work/manifest"

start=$(date +%s)
elapsed() { echo $(( $(date +%s) - start )); }

# The senders: one flood after another until the end.
(
  i=0
  per_conn=$(( rate * 10 / 4 ))
  while [ "$(elapsed)" -lt "$duration" ]; do
    run="soak$i"
    echo "$run 4 $per_conn" >>"$work/manifest"
    # A failed flood is reported (and its lines counted as sent), not the
    # end of the senders.
    "$flood" 127.0.0.1 "$port" -c 4 -n "$per_conn" -s "$size" --rate "$rate" \
      --run-id "$run" --json >>"$work/floods.json" 2>>"$work/floods.err" ||
      echo "$run failed" >>"$work/floods.err"
    i=$((i + 1))
  done
) &
senders=$!
pids+=("$senders")

: >"$work/samples.csv"
sample() {
  local w r; w=$(writer_pid); r=$(receiver_pid)
  for role in receiver writer; do
    local p=$r; [ $role = writer ] && p=$w
    [ -n "$p" ] || continue
    local rss fds
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
    fds=$(ls "/proc/$p/fd" 2>/dev/null | wc -l || true)
    echo "$(elapsed),$role,$p,$rss,$fds" >>"$work/samples.csv"
  done
}

kills=0
rotations=0
outages=0
next_outage=120
target_back=0
full_at=$(( duration * 45 / 100 ))
full_done=0
next_rotate=60
next_kill=$(( duration / 6 ))
next_sample=0
while [ "$(elapsed)" -lt "$duration" ]; do
  now=$(elapsed)
  if [ "$now" -ge "$next_sample" ]; then sample; next_sample=$((now + 10)); fi
  if [ "$full_done" = 0 ] && [ "$now" -ge "$full_at" ]; then
    # The disk full for a minute: the writer holds, the senders slow down.
    dd if=/dev/zero of="$out/filler" bs=1M status=none 2>/dev/null || true
    for _ in $(seq 1 60); do sample; sleep 1; done
    rm -f "$out/filler"
    full_done=1
    continue
  fi
  if [ -n "$target" ] && [ "$now" -ge "$next_outage" ]; then
    # The forwarding target away for a minute: the collector keeps the
    # records in its backlog on disk and goes on writing the file.
    stop_target
    outages=$((outages + 1))
    target_back=$((now + 60))
    next_outage=$((next_outage + 600))
  fi
  if [ -z "$target" ] && [ "$now" -ge "$target_back" ]; then
    start_target
  fi
  if [ "$now" -ge "$next_kill" ]; then
    w=$(writer_pid)
    if [ -n "$w" ]; then kill -KILL "$w"; kills=$((kills + 1)); fi
    next_kill=$((next_kill + duration / 6))
    # The new writer is up before the next fault.
    for _ in $(seq 1 100); do
      nw=$(writer_pid); [ -n "$nw" ] && [ "$nw" != "$w" ] && break; sleep 0.05
    done
  fi
  if [ "$now" -ge "$next_rotate" ]; then
    rotations=$((rotations + 1))
    mv "$out/out.log" "$out/rotating"
    kill -HUP "$collector"
    for _ in $(seq 1 200); do [ -e "$out/out.log" ] && break; sleep 0.05; done
    # The old file is closed once the new one exists; a moment for the
    # batch that was being written to it.
    sleep 0.5
    mv "$out/rotating" "$out/out.log.$rotations"
    # The target's file too (a stopped target has closed it: just renamed).
    if [ -e "$tout/out.log" ]; then
      mv "$tout/out.log" "$tout/rotating"
      if [ -n "$target" ]; then
        kill -HUP "$target"
        for _ in $(seq 1 200); do [ -e "$tout/out.log" ] && break; sleep 0.05; done
        sleep 0.5
      fi
      mv "$tout/rotating" "$tout/out.log.$rotations"
    fi
    next_rotate=$((now + 60))
  fi
  sleep 0.2
done

wait "$senders" || true
[ -n "$target" ] || start_target
# Everything sent is written, and the backlog delivered, before the
# collector is stopped (waiting at most 10 minutes for the backlog).
sleep 5
drain_start=$(date +%s)
while ls "$work/spool/fwd/"*.seg >/dev/null 2>&1 && [ $(( $(date +%s) - drain_start )) -lt 600 ]; do
  sleep 1
done
drain_wait=$(( $(date +%s) - drain_start ))
sleep 5
kill -TERM "$collector"
wait "$collector" || true
stop_target
touch "$out/.done" "$tout/.done"
wait "$checker"
wait "$tchecker"

python3 - "$work" "$kills" "$rotations" "$outages" "$drain_wait" <<'EOF'
import csv, json, sys
work, kills, rotations = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
outages, drain_wait = int(sys.argv[4]), int(sys.argv[5])
check = json.load(open(f"{work}/check.json"))
target = json.load(open(f"{work}/target_check.json"))
rows = list(csv.reader(open(f"{work}/samples.csv")))
flat = {}
for role in ("receiver", "writer"):
    pts = [(int(t), int(r), int(f)) for t, ro, _, r, f in rows if ro == role]
    base = [p for p in pts if p[0] >= 300][:1]
    if not base:
        flat[role] = {"note": "run shorter than 5 minutes"}
        continue
    _, rss0, fd0 = base[0]
    later = [p for p in pts if p[0] >= 300]
    flat[role] = {
        "rss_kib_at_5min": rss0,
        "rss_kib_max_after": max(p[1] for p in later),
        "fds_at_5min": fd0,
        "fds_max_after": max(p[2] for p in later),
        "flat": max(p[1] for p in later) <= rss0 * 1.2 + 1024
        and max(p[2] for p in later) <= fd0 + 8,
    }
floods = [json.loads(l) for l in open(f"{work}/floods.json") if l.strip()]
failed = sum(1 for l in open(f"{work}/floods.err") if l.endswith(" failed\n"))
# A kill costs at most the batch being written (link::BATCH_CAP_BYTES,
# 64 KiB: its lines and a u32 length each), as tests/lossless.rs bounds it.
dup_bound = kills * (64 * 1024 // (120 - 1 + 4) + 1)
# The forwarding handler sends again what the peer's TCP had not
# acknowledged when a connection broke (a writer kill, a target restart):
# at most a loopback socket's send buffer (4 MiB) of 124-byte frames each.
target_dup_bound = (kills + outages) * (4 * 1024 * 1024 // 124 + 1)
ok = (
    check["lost"] == 0
    and check["bad"] == 0
    and check["duplicated"] <= dup_bound
    and target["lost"] == 0
    and target["bad"] == 0
    and target["duplicated"] <= target_dup_bound
    and all(v.get("flat", True) for v in flat.values())
    and failed == 0
)
print(json.dumps({
    "ok": ok, "kills": kills, "rotations": rotations, "floods": len(floods),
    "floods_failed": failed,
    "duplicate_bound": dup_bound, "check": check,
    "target_outages": outages, "backlog_drain_wait_s": drain_wait,
    "target_duplicate_bound": target_dup_bound, "target_check": target,
    "memory_and_fds": flat,
}, indent=1))
sys.exit(0 if ok else 1)
EOF
