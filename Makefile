# SPDX-License-Identifier: GPL-2.0-or-later
# stap-client: build, test, install. GNU conventions; DESTDIR stages.
SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin

GO       ?= go
PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
DATADIR  ?= $(PREFIX)/share
MANDIR   ?= $(DATADIR)/man
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
# zsh looks in PREFIX/share/zsh/site-functions (/usr/local by default);
# Debian's packages use /usr/share/zsh/vendor-completions.
ZSHCOMPDIR  ?= $(DATADIR)/zsh/$(if $(filter /usr,$(PREFIX)),vendor-completions,site-functions)
VERSION  ?= $(shell cat VERSION 2>/dev/null || git describe --tags --always --dirty 2>/dev/null || echo dev)
# Static and reproducible by default; distros may override GOFLAGS and
# GO_LDFLAGS (not LDFLAGS: distro build environments export LDFLAGS for the
# C linker, such as -Wl,-z,relro, which go build -ldflags would refuse).
export CGO_ENABLED ?= 0
GOFLAGS  ?= -trimpath -buildvcs=false
GO_LDFLAGS ?= -s -w -buildid= -X main.version=$(VERSION)

# Where the real-server test lab keeps its state (logs, certificates).
LAB_STATE ?= $(CURDIR)/.lab
# ... and the multi-host network lab for discovery.
NET_STATE ?= $(CURDIR)/.netlab
# ... and the routed network for wide-area (DNS) discovery.
WA_STATE ?= $(CURDIR)/.walab
# ... and the systemtap 5.1/5.6 servers (chroots cached in /var/cache/stap-client-lab).
LAB5_STATE ?= $(CURDIR)/.lab5

BIN := bin/stap-client
# The man page is hand-written roff (docs/stap-client.8, fixed date);
# make man compresses it as Debian ships pages: gzip -9n, no name or time.
MAN := bin/stap-client.8.gz
# Debian versions start with a digit; git describe may give v1.2.3-4-gabc.
DEB_VERSION := $(patsubst v%,%,$(VERSION))
DEB_ARCH ?= $(shell $(GO) env GOARCH)
DEB := bin/stap-client_$(DEB_VERSION)_$(DEB_ARCH).deb
# The RPM: rpmbuild names it after the spec's Version (= VERSION) and arch.
RPM_ARCH ?= $(shell uname -m)
RPM := bin/rpm/RPMS/$(RPM_ARCH)/stap-client-$(DEB_VERSION)-1.$(RPM_ARCH).rpm
# File times inside the .deb: the last commit's, so two builds match.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
export SOURCE_DATE_EPOCH

.PHONY: all build test unit lint interop lab-up lab-down lab5-up lab5-down demo install uninstall clean \
	man completions deb rpm reproducible test-deps pkg-check

all: build

build:
	$(GO) build $(GOFLAGS) -ldflags '$(GO_LDFLAGS)' -o $(BIN) ./cmd/stap-client

lint:
	@bad=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$bad" ]; then echo "gofmt needed: $$bad"; exit 1; fi
	$(GO) vet ./...
	bash test/lint/layers.sh
	@# Every tracked Go file, shell script (by name or shebang) and Makefile
	@# carries the SPDX line in its first three lines (after a shebang or
	@# zsh's #compdef).
	@missing=$$(git ls-files | while read -r f; do \
	  [ -f "$$f" ] || continue; \
	  case $$f in *.go|*.sh|*.bash|Makefile) ;; *) head -c2 "$$f" | grep -q '^#!' || continue ;; esac; \
	  head -n 3 "$$f" | grep -q 'SPDX-License-Identifier: GPL-2.0-or-later' || echo "$$f"; \
	done); \
	if [ -n "$$missing" ]; then echo "lint: no '# SPDX-License-Identifier: GPL-2.0-or-later' line in:" $$missing >&2; exit 1; fi

# Every test, the real-server tier included. That tier installs Debian's
# systemtap-server and runs it in a network namespace; it needs root. Set
# SKIP_INTEROP=1 to run without it (a loud notice says so).
test: lint build test-deps pkg-check
	@if [ "$(SKIP_INTEROP)" = 1 ]; then \
	  echo "######## NOTICE: SKIP_INTEROP=1: the real-server tier is NOT run ########"; \
	  $(GO) test -count=1 ./...; \
	else \
	  bash test/lab/up.sh "$(LAB_STATE)" || { echo "make test: the real-server lab could not start (see above); set SKIP_INTEROP=1 to run the other tests only" >&2; exit 1; }; \
	  trap 'bash test/lab/down.sh "$(LAB_STATE)"; bash test/lab/net-down.sh "$(NET_STATE)"; bash test/lab/wa-down.sh "$(WA_STATE)"; bash test/lab/down5.sh "$(LAB5_STATE)"' EXIT; \
	  bash test/lab/net-up.sh "$(NET_STATE)" || { echo "make test: the network (mDNS) lab could not start (see above); set SKIP_INTEROP=1 to run the other tests only" >&2; exit 1; }; \
	  bash test/lab/wa-up.sh "$(WA_STATE)" || { echo "make test: the wide-area (DNS) lab could not start (see above); set SKIP_INTEROP=1 to run the other tests only" >&2; exit 1; }; \
	  bash test/lab/up5.sh "$(LAB5_STATE)" || { echo "make test: the systemtap 5.x lab could not start (see above); set SKIP_INTEROP=1 to run the other tests only" >&2; exit 1; }; \
	  LAB_ENV="$(LAB_STATE)/lab.env" NET_ENV="$(NET_STATE)/net.env" WA_ENV="$(WA_STATE)/wa.env" LAB5_ENV="$(LAB5_STATE)/lab5.env" STAP_CLIENT_BIN="$(CURDIR)/$(BIN)" $(GO) test -count=1 -timeout 30m ./...; \
	fi

lab-up:
	bash test/lab/up.sh "$(LAB_STATE)"

lab-down:
	bash test/lab/down.sh "$(LAB_STATE)"

# The systemtap 5.1/5.6 servers alone (the first run builds the chroots).
lab5-up:
	bash test/lab/up5.sh "$(LAB5_STATE)"

lab5-down:
	bash test/lab/down5.sh "$(LAB5_STATE)"

# The man page's Hello World through a real local compile server.
demo: build
	bash test/lab/demo.sh "$(LAB_STATE)" "$(CURDIR)/$(BIN)"

man: $(MAN)

$(MAN): docs/stap-client.8
	@mkdir -p $(@D)
	gzip -9n < $< > $@

# The completions are generated from the option table and committed; a test
# (internal/gen) fails when they are stale.
completions:
	$(GO) run ./internal/gen -dir completions

install: build man
	install -D -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/stap-client
	install -D -m 0644 $(MAN) $(DESTDIR)$(MANDIR)/man8/stap-client.8.gz
	install -D -m 0644 completions/stap-client.bash $(DESTDIR)$(BASHCOMPDIR)/stap-client
	install -D -m 0644 completions/_stap-client $(DESTDIR)$(ZSHCOMPDIR)/_stap-client

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/stap-client $(DESTDIR)$(MANDIR)/man8/stap-client.8.gz \
	  $(DESTDIR)$(BASHCOMPDIR)/stap-client $(DESTDIR)$(ZSHCOMPDIR)/_stap-client

# A Debian package with plain dpkg-deb: /usr/bin/stap-client, the man page,
# completions, the copyright file; staprun comes from systemtap-runtime.
deb: $(DEB)

$(DEB): build man $(wildcard packaging/deb/*)
	rm -rf bin/deb-root
	$(MAKE) --no-print-directory install DESTDIR=$(CURDIR)/bin/deb-root PREFIX=/usr
	install -D -m 0644 packaging/deb/copyright bin/deb-root/usr/share/doc/stap-client/copyright
	gzip -9n < packaging/deb/changelog > bin/deb-root/usr/share/doc/stap-client/changelog.gz
	install -D -m 0644 packaging/deb/lintian-overrides bin/deb-root/usr/share/lintian/overrides/stap-client
	mkdir -p bin/deb-root/DEBIAN
	sed -e 's/@VERSION@/$(DEB_VERSION)/' -e 's/@ARCH@/$(DEB_ARCH)/' \
	  -e "s/@SIZE@/$$(du -sk --exclude=DEBIAN bin/deb-root | cut -f1)/" \
	  packaging/deb/control.in > bin/deb-root/DEBIAN/control
	cd bin/deb-root && find usr -type f | LC_ALL=C sort | xargs md5sum > DEBIAN/md5sums
	find bin/deb-root -depth -exec touch --no-dereference --date=@$(SOURCE_DATE_EPOCH) {} +
	dpkg-deb --root-owner-group -Zxz --build bin/deb-root $@

# An RPM with rpmbuild from packaging/rpm/stap-client.spec, as Fedora would
# build it: from a tarball of the work tree (without dot-directories and
# bin), compiled in rpmbuild's own directory. --nodeps: on Debian the
# BuildRequires (golang, make) are not rpm packages; --nocheck: make test
# runs the unit tests already. No brp-compress: Debian's needs bash as
# /bin/sh, and the man page is gzipped already.
rpm: $(RPM)

$(RPM): $(wildcard $(shell git ls-files 2>/dev/null)) packaging/rpm/stap-client.spec
	rm -rf bin/rpm && mkdir -p bin/rpm/SOURCES
	tar --exclude='./.*' --exclude=./bin --transform 's,^\.,stap-client-$(DEB_VERSION),' \
	  -czf bin/rpm/SOURCES/stap-client-$(DEB_VERSION).tar.gz .
	rpmbuild -bb --nodeps --nocheck --quiet --define '_topdir $(CURDIR)/bin/rpm' \
	  --define '__brp_compress %{nil}' \
	  --target $(RPM_ARCH) packaging/rpm/stap-client.spec

# Two builds give the same bytes: the second from a copy of the tree at
# another path (without dot-directories: git, lab state) with an empty build
# cache (about 25 s: everything compiles).
reproducible: build
	@d=$$(mktemp -d) && trap 'chmod -R u+w "$$d"; rm -rf "$$d"' EXIT && \
	tar --exclude='./.*' --exclude=./bin -cf - . | tar -xf - -C "$$d" && \
	(cd "$$d" && GOCACHE="$$d/.cache" $(GO) build $(GOFLAGS) -ldflags '$(GO_LDFLAGS)' -o "$$d/stap-client" ./cmd/stap-client) && \
	if cmp -s $(BIN) "$$d/stap-client"; then echo "reproducible: two builds are identical ($$(sha256sum < $(BIN) | cut -c1-16))"; \
	else echo "reproducible: FAILED: $(BIN) and a second build differ" >&2; exit 1; fi

# What the tests need from apt on a fresh Debian 12: man to render the page,
# zsh to parse its completion file, lintian and rpmlint to check the
# packages, rpm (rpmbuild) to build the RPM.
test-deps:
	@(for c in man zsh dpkg-deb lintian rpmbuild rpmlint; do command -v $$c >/dev/null || exit 1; done) || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    man-db zsh dpkg lintian rpm rpmlint; }

# Packaging checks: install/uninstall layout, the .deb's contents and a
# dpkg -i into a throwaway root, reproducibility, lintian, the version
# scheme, the RPM with rpmlint and an rpm -i into a throwaway root.
pkg-check: test-deps reproducible deb rpm
	bash test/pkg/check.sh "$(CURDIR)" "$(DEB)" "$(RPM)"

clean:
	rm -rf bin
