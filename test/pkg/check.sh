#!/usr/bin/env bash
# Packaging checks, run by make pkg-check (a prerequisite of make test):
#  1. make install DESTDIR=... PREFIX=/usr lays out binary, man page and
#     completions; make uninstall removes them all;
#  2. the .deb holds what it should, with Depends: systemtap-runtime;
#  3. dpkg -i of it into a throwaway root (its own dpkg database, not the
#     machine's) works, and the installed stap-client --version runs;
#  4. building the .deb twice gives the same bytes.
# Usage: check.sh REPO DEB
set -euo pipefail
repo=$1 deb=$2
cd "$repo"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "pkg-check: FAILED: $*" >&2; exit 1; }

want=(
  usr/bin/stap-client
  usr/share/man/man8/stap-client.8.gz
  usr/share/bash-completion/completions/stap-client
  usr/share/zsh/vendor-completions/_stap-client
)

# 1. install and uninstall with DESTDIR.
make --no-print-directory -s install DESTDIR="$tmp/stage" PREFIX=/usr >/dev/null
for f in "${want[@]}"; do [ -f "$tmp/stage/$f" ] || fail "make install did not install /$f"; done
[ -x "$tmp/stage/usr/bin/stap-client" ] || fail "/usr/bin/stap-client is not executable"
# A dynamic ELF names its loader (PT_INTERP); a static one does not.
if LC_ALL=C grep -qa "/ld-linux" "$tmp/stage/usr/bin/stap-client"; then fail "the binary is not static"; fi
MANWIDTH=80 MANPAGER=cat man -l "$tmp/stage/usr/share/man/man8/stap-client.8.gz" | grep -q "SAFETY AND SECURITY" ||
  fail "man -l does not render the installed page"
make --no-print-directory -s uninstall DESTDIR="$tmp/stage" PREFIX=/usr
left=$(find "$tmp/stage" -type f)
[ -z "$left" ] || fail "make uninstall left: $left"
echo "pkg-check: make install/uninstall with DESTDIR: ok"

# 2. contents and control data.
contents=$(dpkg-deb -c "$deb")
for f in "${want[@]}" usr/share/doc/stap-client/copyright; do
  grep -q " \./$f\$" <<<"$contents" || fail "$deb lacks /$f"
done
grep -q ' root/root ' <<<"$contents" || fail "files in $deb are not owned by root"
info=$(dpkg-deb --info "$deb")
grep -q '^ Depends: systemtap-runtime$' <<<"$info" || fail "$deb does not depend on systemtap-runtime"
grep -q '^ Package: stap-client$' <<<"$info" || fail "$deb is not named stap-client"
echo "pkg-check: dpkg-deb -c and --info: ok"

# 3. dpkg -i into a throwaway root: its own admin dir, so the machine's
# package database is untouched. systemtap-runtime is not in that root,
# hence --force-depends.
root=$tmp/root
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
touch "$root/var/lib/dpkg/status" "$root/var/lib/dpkg/available"
dpkg --root="$root" --force-depends --force-not-root --force-script-chrootless \
  --log=/dev/null -i "$deb" >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log" >&2; fail "dpkg -i into a throwaway root"; }
dpkg --root="$root" -s stap-client | grep -q '^Status: install ok installed' || fail "dpkg does not list stap-client as installed"
out=$("$root/usr/bin/stap-client" --version) || fail "the installed stap-client --version failed"
grep -q '^stap-client ' <<<"$out" || fail "unexpected --version output: $out"
echo "pkg-check: dpkg -i into a throwaway root, then stap-client --version: ok"
echo "$out" | sed 's/^/    /'

# 4. the .deb is reproducible: two builds with the same SOURCE_DATE_EPOCH
# (pinned, so a commit landing in between does not count as a difference).
epoch=${SOURCE_DATE_EPOCH:-0}
make --no-print-directory -s deb SOURCE_DATE_EPOCH="$epoch" >/dev/null
cp "$deb" "$tmp/first.deb"
make --no-print-directory -s deb SOURCE_DATE_EPOCH="$epoch" >/dev/null
cmp -s "$deb" "$tmp/first.deb" || fail "two builds of $deb differ"
echo "pkg-check: the .deb is reproducible ($(stat -c %s "$deb") bytes)"
