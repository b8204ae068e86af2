# SPDX-License-Identifier: MIT
# Sourced by the guest scripts as /test/lib.sh (tests/vm/run.sh puts it
# there): counting checks the way tests/run reads them.
PASSED=0
FAILED=0
# Process substitution (<(...)) needs /dev/fd.
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
pass() { echo "PASS $*"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL $*"; FAILED=$((FAILED + 1)); }
# check NAME CMD...: passes when CMD succeeds; prints the start of its
# output when it does not.
check() {
	local name=$1
	shift
	if "$@" >/tmp/check.out 2>&1; then pass "$name"; else fail "$name"; sed 's/^/    /' /tmp/check.out | head -5; fi
}
# none PATTERN CMD...: CMD succeeds and no line it prints matches the
# extended regex PATTERN ("." : it prints nothing); a listing that fails is
# not an empty one. (As tests/net/lib.sh's.)
none() {
	local re=$1 out
	shift
	out=$("$@") || { echo "failed: $*"; return 1; }
	if echo "$out" | grep -qE -- "$re"; then echo "found: $(echo "$out" | grep -E -- "$re" | head -5)"; return 1; fi
}
# same A B: equal and not empty (two failed commands print the same nothing).
same() { [ -n "$1" ] && [ "$1" = "$2" ] || { echo "'$1' and '$2'"; return 1; }; }
# has TEXT NEEDLE...: TEXT contains every NEEDLE (printing TEXT when not).
has() {
	local text=$1 n
	shift
	for n in "$@"; do
		echo "$text" | grep -qF -- "$n" || { echo "missing $n in: $text"; return 1; }
	done
}
