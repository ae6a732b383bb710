#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Regenerates the NSS database fixtures with the real certutil (libnss3-tools)
# and sqlite3. Never edit the databases by hand: change this script and rerun.
# Usage: bash regen.sh   (from anywhere; writes beside itself)
set -euo pipefail
cd "$(dirname "$0")"
command -v certutil >/dev/null || { echo "regen.sh: needs certutil (apt-get install libnss3-tools)" >&2; exit 1; }
command -v sqlite3 >/dev/null || { echo "regen.sh: needs sqlite3 (apt-get install sqlite3)" >&2; exit 1; }

rm -rf db scratch && mkdir -p db scratch
noise() { head -c 64 /dev/urandom > scratch/noise; }

# Two self-signed certificates shaped like stap-serverd's (same subject, as
# all stap servers have; 10 years). One scratch database each: NSS lists every
# certificate of a subject under one nickname.
for n in server other; do
	mkdir -p "scratch/$n"
	certutil -N --empty-password -d "sql:scratch/$n"
	noise
	certutil -S -n "$n" -s "CN=Systemtap Compile Server,OU=Systemtap" -x -t "P,," \
		-k rsa -g 2048 -v 120 -m "$((RANDOM * 32768 + RANDOM + 1))" -z scratch/noise \
		-8 "$n.example" -d "sql:scratch/$n" >/dev/null 2>&1
	certutil -L -n "$n" -r -d "sql:scratch/$n" > "$n.der"
done

# mkdb NAME TRUST [CERT]: a database holding CERT (server.der) as stap-server.
mkdb() {
	local d=db/$1
	mkdir -p "$d"
	certutil -N --empty-password -d "sql:$d"
	certutil -A -n stap-server -t "$2" -i "${3:-server.der}" -d "sql:$d"
	chmod 0644 "$d"/*.db
	rm -f "$d/pkcs11.txt"
}
mkdb trusted "P,P,P"       # what stap --trust-servers writes
mkdb peer-ssl-only "P,,"   # stap accepts: server auth is what counts
mkdb anchor "C,,"          # stap accepts a trust anchor too
mkdb no-trust ",,"         # stap refuses: -8156
mkdb distrusted "p,p,p"    # stap refuses: -8171
mkdb other "P,P,P" other.der

# The trust's integrity MACs gone: NSS drops the whole trust object.
mkdb no-macs "P,P,P"
sqlite3 db/no-macs/key4.db "delete from metaData where id like 'sig_%';"
# Only one MAC gone (client auth): NSS drops the trust all the same.
mkdb one-mac-missing "P,P,P"
sqlite3 db/one-mac-missing/key4.db "delete from metaData where id like 'sig_cert_%_ce536359';"
# A wrong certificate hash in the trust object: NSS ignores the trust.
mkdb bad-hash "P,P,P"
sqlite3 db/bad-hash/cert9.db "update nssPublic set ace5363b4 = zeroblob(20) where ace5363b4 is not null;"

# A password-protected database: stap never logs in, so MACs are not checked.
mkdir -p db/password
printf 'secret\n' > scratch/pw
certutil -N -f scratch/pw -d sql:db/password
noise
certutil -A -n stap-server -t "P,P,P" -i server.der -d sql:db/password -f scratch/pw
sqlite3 db/password/key4.db "delete from metaData where id like 'sig_%';"
chmod 0644 db/password/*.db; rm -f db/password/pkcs11.txt

# A legacy dbm: database (cert8.db only).
mkdir -p db/legacy
certutil -N --empty-password -d dbm:db/legacy
certutil -A -n stap-server -t "P,P,P" -i server.der -d dbm:db/legacy
chmod 0644 db/legacy/*.db; rm -f db/legacy/secmod.db

rm -rf scratch
certutil -L -d sql:db/trusted
