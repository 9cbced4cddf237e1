# shellcheck shell=bash
# console.sh: the guests' serial consoles (sourced). A reader loop per
# instance (re)connects to the QEMU serial socket on the node named in
# $E2E_RUN/console-INST.node, timestamps every line into
# $E2E_OUT/serial-INST.log, and feeds the guest the commands written to a
# FIFO. The loop reconnects on its own after a reboot or a migration.

serial_log() { echo "$E2E_OUT/serial-$1.log"; }

# console_attach INST NODE: start (or re-point) the reader loop.
console_attach() {
  local inst=$1 node=$2 fifo=$E2E_RUN/console-$1.in
  echo "$node" > $E2E_RUN/console-"$inst".node
  [ -p "$fifo" ] || mkfifo "$fifo"
  [ -s $E2E_RUN/console-"$inst".pid ] && kill -0 "$(cat $E2E_RUN/console-"$inst".pid)" 2>/dev/null && return 0
  touch "$(serial_log "$inst")"
  console_loop "$inst" "$fifo" </dev/null >/dev/null 2>&1 &
  echo $! > $E2E_RUN/console-"$inst".pid
}

console_loop() {
  local inst=$1 fifo=$2 sock=/run/ganeti/kvm-hypervisor/ctrl/$1.serial node log
  log=$(serial_log "$inst")
  exec 3<>"$fifo"   # held open: the FIFO never reaches EOF
  while [ -s $E2E_RUN/console-"$inst".node ]; do
    node=$(cat $E2E_RUN/console-"$inst".node)
    on "$node" socat -T 86400 UNIX-CONNECT:"$sock" STDIO <&3 2>/dev/null |
      while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "${l%$'\r'}"; done >> "$log"
    sleep 0.3
  done
}

console_detach() {
  local inst=$1
  rm -f $E2E_RUN/console-"$inst".node
  [ -s $E2E_RUN/console-"$inst".pid ] && kill -- "$(cat $E2E_RUN/console-"$inst".pid)" 2>/dev/null
  rm -f $E2E_RUN/console-"$inst".pid
}

# console_mark INST: the current line count, to look only at what follows.
console_mark() { wc -l < "$(serial_log "$1")"; }
# console_since INST MARK: the lines after MARK, without the timestamps.
console_since() { tail -n +"$(($2 + 1))" "$(serial_log "$1")" | cut -d' ' -f2-; }
# console_wait INST MARK SECONDS REGEX: wait for a line matching REGEX after MARK.
console_wait() { wait_for "$3" console_has "$1" "$2" "$4"; }
console_has() { console_since "$1" "$2" | grep -Eq -- "$3"; }

# console_cmd INST SECONDS VERB ARGS...: send a command and wait for its
# end marker; prints the guest's reply lines.
console_cmd() {
  local inst=$1 t=$2 id mark; shift 2
  id=c$RANDOM$RANDOM
  mark=$(console_mark "$inst")
  echo "$id $*" > $E2E_RUN/console-"$inst".in
  if console_wait "$inst" "$mark" "$t" "^E2E-DONE $id"; then
    console_since "$inst" "$mark" | sed -n "/^E2E/p" | grep -v "^E2E-DONE"
  else
    echo "E2E-TIMEOUT $id $*"; return 1
  fi
}
