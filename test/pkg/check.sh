#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Packaging checks, run by make pkg-check (a prerequisite of make test):
#  1. make install DESTDIR=... PREFIX=/usr lays out binary, man page and
#     completions; make uninstall removes them all;
#  2. the .deb holds what it should, with Depends: systemtap-runtime;
#  3. dpkg -i of it into a throwaway root (its own dpkg database, not the
#     machine's) works, and the installed stap-client --version runs;
#  4. building the .deb twice gives the same bytes;
#  5. lintian reports no error and no warning (overrides carry reasons);
#  6. the version scheme: VERSION, the Debian changelog and the RPM spec
#     agree, and a ~dev version sorts before its release in dpkg and rpm;
#  7. the copyright file and the spec's bundled() list name every Go module
#     linked into the binary;
#  8. the RPM: rpmlint clean, Fedora's paths, rpm -i into a throwaway root;
#  9. with the default PREFIX, the completions land where bash and zsh look.
# Usage: check.sh REPO DEB RPM
set -euo pipefail
repo=$1 deb=$2 rpm=$3
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

# 5. lintian: nothing at error or warning level (info and pedantic tags
# are shown, not fatal).
out=$(lintian -I --pedantic --fail-on error,warning "$deb" 2>&1) || { echo "$out" >&2; fail "lintian on $deb"; }
grep -q '^[EW]: ' <<<"$out" && { echo "$out" >&2; fail "lintian reports errors or warnings on $deb"; }
echo "pkg-check: lintian: no errors, no warnings"
grep '^[IPX]: ' <<<"$out" | sed 's/^/    /' || true

# 6. one version everywhere, and ~dev before the release.
version=$(cat VERSION)
clver=$(sed -n '1s/^stap-client (\([^)]*\)).*/\1/p' packaging/deb/changelog)
specver=$(sed -n 's/^Version: *//p' packaging/rpm/stap-client.spec)
[ "$clver" = "$version" ] || fail "packaging/deb/changelog starts at $clver, VERSION is $version"
[ "$specver" = "$version" ] || fail "the spec's Version is $specver, VERSION is $version"
specrel=$(sed -n 's/^\* .* - //p' packaging/rpm/stap-client.spec | head -1)
[ "$specrel" = "$version-1" ] || fail "the spec's %changelog starts at $specrel, not $version-1"
debver=$(dpkg-deb -f "$deb" Version)
[ "$debver" = "$version" ] || fail "$deb has Version $debver, VERSION is $version"
if [[ $version == *~* ]]; then
  release=${version%%~*}
  dpkg --compare-versions "$version" lt "$release" || fail "dpkg sorts $version after $release"
  [ "$(rpm --eval "%{lua: print(rpm.vercmp('$version', '$release'))}")" = -1 ] || fail "rpm sorts $version after $release"
  echo "pkg-check: version $version sorts before $release (dpkg, rpm); changelog and spec agree"
else
  echo "pkg-check: version $version; changelog and spec agree"
fi

# 7. every linked module is in the copyright file and the spec.
mods=$(go version -m "$repo/bin/stap-client" | awk '$1 == "dep" { print $2, $3 }')
[ -n "$mods" ] || fail "go version -m lists no modules in bin/stap-client"
while read -r mod ver; do
  grep -Eq "^(Files:)? +vendor/$mod/\*\$|^Files: vendor/$mod/\*\$" packaging/deb/copyright || fail "packaging/deb/copyright does not cover $mod"
  grep -q "^Provides: *bundled(golang($mod)) = " packaging/rpm/stap-client.spec || fail "the spec does not list bundled(golang($mod))"
  # v1.2.3+incompatible -> 1.2.3; pseudo-versions: their tail after the tag.
  want=${ver#v}; want=${want%+incompatible}
  got=$(sed -n "s|^Provides: *bundled(golang($mod)) = ||p" packaging/rpm/stap-client.spec)
  case $want in
    *-0.*-*|0.0.0-*) [[ $got == *"${want##*-}" ]] || fail "the spec has $mod at $got, the binary at $ver" ;;
    *) [ "$got" = "$want" ] || fail "the spec has $mod at $got, the binary at $ver" ;;
  esac
done <<<"$mods"
echo "pkg-check: copyright file and spec name all $(wc -l <<<"$mods") linked modules"

# 8. the RPM.
[ -f "$rpm" ] || fail "no $rpm (make rpm)"
out=$(rpmlint -c packaging/rpm/rpmlint.toml "$rpm" packaging/rpm/stap-client.spec 2>&1) || { echo "$out" >&2; fail "rpmlint"; }
grep -q ' 0 errors, 0 warnings' <<<"$out" || { echo "$out" >&2; fail "rpmlint reports errors or warnings"; }
echo "pkg-check: rpmlint: no errors, no warnings"
files=$(rpm -qlp "$rpm" 2>/dev/null)
for f in /usr/bin/stap-client /usr/share/man/man8/stap-client.8.gz \
  /usr/share/bash-completion/completions/stap-client /usr/share/zsh/site-functions/_stap-client \
  "/usr/share/licenses/stap-client-$version/LICENSE"; do
  grep -qx -- "$f" <<<"$files" || fail "$rpm lacks $f"
done
rpm -qp --requires "$rpm" 2>/dev/null | grep -qx 'systemtap-runtime' || fail "$rpm does not require systemtap-runtime"
rroot=$tmp/rpmroot
rpm --root="$rroot" --initdb
rpm --root="$rroot" -i --nodeps "$rpm" >"$tmp/rpm.log" 2>&1 || { cat "$tmp/rpm.log" >&2; fail "rpm -i into a throwaway root"; }
rpm --root="$rroot" -q stap-client >/dev/null || fail "rpm does not list stap-client as installed"
out=$("$rroot/usr/bin/stap-client" --version) || fail "the stap-client --version installed by rpm failed"
grep -qx "stap-client $version" <<<"$(head -1 <<<"$out")" || fail "unexpected --version output from the RPM's binary: $out"
readelf -n "$rroot/usr/bin/stap-client" | grep -q 'Build ID' || fail "the RPM's binary has no GNU build ID"
echo "pkg-check: rpm -i into a throwaway root, then stap-client --version: ok ($(stat -c %s "$rpm") bytes)"

# 9. default PREFIX (/usr/local): zsh's fpath holds the zsh file's
# directory, bash-completion's search path (XDG_DATA_DIRS, by default
# /usr/local/share:/usr/share) the bash file's.
make --no-print-directory -s install DESTDIR="$tmp/local" >/dev/null
zdir=$(dirname "$(cd "$tmp/local" && find . -name _stap-client | cut -c2-)")
zsh -f -c 'print -l $fpath' | grep -qx -- "$zdir" || fail "make install puts the zsh completion in $zdir, which is not in zsh's fpath"
bdir=$(dirname "$(cd "$tmp/local" && find . -path '*bash-completion*' -name stap-client | cut -c2-)")
[ "$bdir" = /usr/local/share/bash-completion/completions ] || fail "make install puts the bash completion in $bdir"
echo "pkg-check: default PREFIX: completions in $bdir and $zdir (zsh's fpath)"
