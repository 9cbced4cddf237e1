# shellcheck shell=bash
# pings.sh: pings every 0.2 s across a switch-over, and their losses
# (sourced). iputils ping -D stamps each reply; a sequence number with no
# reply is a lost ping.

# pingers_start LABEL: the router pings the guest's routed IPv4 and IPv6,
# the bridged peer its bridged IPv4, each into $E2E_OUT/ping-LABEL-PATH.txt
# (-O: a ping without reply is reported, so the file shows whether the
# path answers now).
pingers_start() {
  local label=$1 r4 r6 b4
  read -r r4 r6 b4 <<<"$(guest_addrs $INST)"
  pinger "$label" routed4 $NS_RT "$r4"
  pinger "$label" routed6 $NS_RT "$r6"
  pinger "$label" bridged4 $NS_PEER "$b4"
}

pinger() {
  ip netns exec "$3" ping -D -O -n -i 0.2 -W 1 "$4" > "$E2E_OUT/ping-$1-$2.txt" 2>&1 &
  echo $! > $E2E_RUN/ping-"$2".pid
}

# pingers_stop LABEL T0: stop them (SIGINT: ping prints its summary) and
# measure per path: lost pings and the outage (the longest run of lost
# pings times the interval), dated relative to T0 (the switch-over's
# start). pings_judge checks them against the goal.
pingers_stop() {
  local label=$1 t0=$2 path f
  # let an outage run its course (up to E2E_OUTAGE_MAX s) to measure it
  for path in routed4 routed6 bridged4; do
    wait_for "${E2E_OUTAGE_MAX:-60}" answering "$E2E_OUT/ping-$label-$path.txt" ||
      echo "pings of $path still unanswered after ${E2E_OUTAGE_MAX:-60} s more"
  done
  for path in routed4 routed6 bridged4; do
    kill -INT "$(cat $E2E_RUN/ping-$path.pid)" 2>/dev/null
  done
  sleep 0.5
  for path in routed4 routed6 bridged4; do
    f=$E2E_OUT/ping-$label-$path.txt
    rm -f $E2E_RUN/ping-$path.pid
    ping_losses "$f" "$t0" > "$f.report"
    measure "4 $label $path: $(cat "$f.report")"
  done
}

# pings_judge LABEL: each path lost at most E2E_LOSS_GOAL pings.
pings_judge() {
  local label=$1 path f
  for path in routed4 routed6 bridged4; do
    f=$E2E_OUT/ping-$label-$path.txt
    local lost; lost=$(sed -n 's/.*lost=\([0-9]*\).*/\1/p' "$f.report")
    if [ "${lost:-999}" -le "${E2E_LOSS_GOAL:-1}" ]; then
      ok "4 $label $path: lost ${lost} ping(s) (goal: at most ${E2E_LOSS_GOAL:-1})"
    else
      fail "4 $label $path: lost ${lost:-?} ping(s) (goal: at most ${E2E_LOSS_GOAL:-1})"
    fi
  done
}

# answering FILE: the latest ping of FILE got its reply.
answering() { grep 'icmp_seq=' "$1" | tail -1 | grep -q ' bytes from '; }

# ping_losses FILE T0: "sent=N lost=M lost_seqs=A-B,... outage=S from=+X s"
# (X: when the longest run of losses began, after T0).
ping_losses() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
t0 = float(sys.argv[2])
got = {}
for m in re.finditer(r"^\[(\d+\.\d+)\] \d+ bytes from .*icmp_seq=(\d+) ", text, re.M):
    got.setdefault(int(m.group(2)), float(m.group(1)))
sent = re.search(r"(\d+) packets transmitted", text)
sent = int(sent.group(1)) if sent else (max(got) if got else 0)
if sent and sent not in got:
    sent -= 1  # the last one was still in flight when ping was stopped
lost = sorted(set(range(1, sent + 1)) - set(got))
# runs of consecutive lost sequence numbers; the outage is the longest
# run times the interval, dated by the reply before it
runs, start = [], None
for i, s in enumerate(lost):
    if start is None: start = s
    if i + 1 == len(lost) or lost[i + 1] != s + 1:
        runs.append((start, s)); start = None
text_runs = ",".join(f"{a}-{b}" if a != b else f"{a}" for a, b in runs) or "-"
out = f"sent={sent} lost={len(lost)} lost_seqs={text_runs}"
if runs:
    a, b = max(runs, key=lambda r: r[1] - r[0])
    out += f" outage={(b - a + 1) * 0.2:.1f}s"
    before = [got[s] for s in got if s < a]
    if before:
        out += f" from=+{max(before) + 0.2 - t0:.1f}s"
    if b == sent:
        out += " (not over when the pings stopped)"
else:
    out += " outage=0.0s"
print(out)
PY
}
