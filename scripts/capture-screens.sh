#!/bin/bash
# Captures what one installed agent CLI draws, for the drift corpus under
# crates/adapters/tests/screens/<cli>/v<version>/ (see that README).
#
#   scripts/capture-screens.sh CLI VERSION PREFIX OUTDIR SCENE -- ARGS...
#
# PREFIX/bin holds the CLI's executable. SCENE names the capture (`start`,
# `bad-flag`, ...). The CLI runs in tmux (120x40, TERM=tmux-256color) with a
# fresh empty HOME in a fresh git repository, with PATH=PREFIX/bin:/usr/bin:/bin
# and nothing else of this environment. The screen is captured once it has not
# changed for 4 s (or after 40 s), or when the process has exited; the exit
# status is written to SCENE.status when it exited.
set -u
cli=$1 version=$2 prefix=$3 out=$4 scene=$5; shift 6
mkdir -p "$out"
work=$(mktemp -d /tmp/wcap.XXXXXX)
mkdir -p "$work/home" "$work/repo"
git -C "$work/repo" init -q
sock="wcap-$$"
envs=(env -i "PATH=$prefix/bin:/usr/bin:/bin" "HOME=$work/home" "TERM=tmux-256color" "LANG=C.UTF-8"
      "DISABLE_AUTOUPDATER=1")
[ -n "${PYENV_ROOT:-}" ] && envs+=("PYENV_ROOT=$PYENV_ROOT")
# The CLI runs under `sh -c 'CLI ...; echo $? > status; sleep 5'`: tmux 3.3a blanks the
# pane of a process that exits at once (an argument error), so the screen is captured
# while the shell waits, and the exit status is the CLI's, from that file.
printf 'set -g remain-on-exit on\nset -g history-limit 2000\n' > "$work/tmux.conf"
tmux -L "$sock" -f "$work/tmux.conf" new-session -d -x 120 -y 40 -c "$work/repo" \
    "$(printf '%q ' "${envs[@]}" sh -c '"$0" "$@"; echo $? > '"$work/status"'; sleep 5' "$cli" "$@")"
last="" same=0
for i in $(seq 1 80); do
    sleep 0.5
    if [ -s "$work/status" ]; then sleep 0.3; break; fi
    now=$(tmux -L "$sock" capture-pane -p -t 0)
    if [ "$now" = "$last" ] && [ -n "$now" ]; then same=$((same+1)); else same=0; fi
    last=$now
    [ $same -ge 8 ] && break
done
clean() { sed -e '/^Pane is dead/d' | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'; }
tmux -L "$sock" capture-pane -p -t 0 | clean > "$out/$scene.txt"
tmux -L "$sock" capture-pane -p -e -t 0 | clean > "$out/$scene.esc.txt"
# What scrolled off the top (an error printed before a long usage text), with the screen.
if [ "$(tmux -L "$sock" display -p -t 0 '#{history_size}')" != 0 ]; then
    tmux -L "$sock" capture-pane -p -S - -t 0 | clean > "$out/$scene.history.txt"
fi
if [ -s "$work/status" ]; then cp "$work/status" "$out/$scene.status"; fi
tmux -L "$sock" kill-server 2>/dev/null
rm -rf "$work"
echo "$out/$scene.txt ($(wc -l < "$out/$scene.txt") lines$( [ -f "$out/$scene.status" ] && echo ", exit $(cat "$out/$scene.status")"))"
