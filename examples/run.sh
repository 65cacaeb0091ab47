#!/bin/sh
# `make run`: portier-translate serving examples/site/site.json and portierd
# on http://127.0.0.1:$PORT (8080), in the foreground.  Ctrl-C (or
# SIGTERM) stops both; if one of them exits, the other is stopped too.
# WORKERS=N runs portierd with N worker processes (default 1).
# usage: examples/run.sh BUILD_DIR
set -u
build=${1:-build}
port=${PORT:-8080}
here=$(cd "$(dirname "$0")" && pwd)
sock="@portier-run-$$"
logdir="$build/run"
mkdir -p "$logdir"

"$build/translator/portier-translate" --socket "$sock" \
    "$here/site/site.json" &
tpid=$!
# the translation server must listen before portierd's first request
sleep 0.2
# WORKERS: worker processes (default 1 here; portierd's own default is one
# per core)
"$build/dataplane/portierd" --listen "127.0.0.1:$port" \
    --translation-socket "$sock" --workers "${WORKERS:-1}" &
ppid=$!

stop() {
    trap - INT TERM EXIT
    kill -TERM "$ppid" "$tpid" 2>/dev/null
    wait "$ppid" 2>/dev/null
    wait "$tpid" 2>/dev/null
    echo "make run: stopped portierd and portier-translate"
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

sleep 0.3
if kill -0 "$ppid" 2>/dev/null && kill -0 "$tpid" 2>/dev/null; then
    echo "Portier serves examples/site on http://127.0.0.1:$port/" \
         "(Ctrl-C stops it)"
fi
# Return as soon as either process ends.
while kill -0 "$ppid" 2>/dev/null && kill -0 "$tpid" 2>/dev/null; do
    sleep 1
done
echo "make run: a process exited; see the messages above" >&2
exit 1
