# cpu_ns for scripts/peers.sh, sourced by it (and by the test
# benches/tests/peers_proc.rs, with PROC pointed at a made-up tree).
#
# The sum is bash's 64-bit integer, not awk's: Debian's awk (mawk) prints
# "%d" no larger than 2^31 - 1, so a server that had used more than 2.15 s
# of CPU read as 2.15 s, and the CPU-per-message figure of every busy run
# came out low (docs/performance.md, round 10).
PROC=${PROC:-/proc}

# CPU time of every thread of PID, ns (the first field of schedstat).
cpu_ns() {
    local f v s=0
    for f in "$PROC/$1"/task/*/schedstat; do
        [[ -r $f ]] && read -r v _ < "$f" || continue
        s=$((s + v))
    done
    echo "$s"
}
