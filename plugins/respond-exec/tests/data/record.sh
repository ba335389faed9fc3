#!/bin/sh
# Test program of check_exec: records its argv (NUL-separated) and stdin,
# then behaves as the action (argument 2) asks.
out="$1"
shift
for a in "$@"; do printf '%s\0' "$a"; done > "$out.argv"
cat > "$out.stdin"
echo run >> "$out.count"
case "$1" in
fail)
    echo "boom: permission denied" >&2
    echo "second line" >&2
    exit 3 ;;
crash)
    kill -SEGV $$ ;;
hang)
    sleep 30 &
    echo $! > "$out.grandchild"
    sleep 30 ;;
daemon)
    # a grandchild keeps stdout open after the program exits
    sleep 5 &
    exit 0 ;;
fdcheck)
    # is the descriptor named by the target (opened by the test) visible here?
    n="${2#--target=}"
    if [ -e "/proc/$$/fd/$n" ]; then echo "fd $n leaked into the child" >&2; exit 4; fi
    env > "$out.env"
    pwd > "$out.pwd"
    exit 0 ;;
noisy)
    head -c 1000000 /dev/zero | tr '\0' x
    exit 0 ;;
esac
exit 0
