# SPDX-License-Identifier: GPL-2.0-or-later
#
# The one entry point. Every target brings in what it needs (deps, source,
# builds) first, so on a fresh Debian 12 machine `make check` and
# `make demo` are all a new user runs. Everything generated goes to build/.

SHELL := /bin/bash
.DEFAULT_GOAL := help
.PHONY: help deps fetch src build build-fork build-stock build-lab check demo dev \
        export pq-check build-each clean libvirt-check faults \
        build-asan fuzz soak

help:
	@echo "make demo    build both twins and run the demo migration"
	@echo "make check   build and run every test (what CI runs)"
	@echo "make libvirt-check  only the libvirt suite: two libvirtd, virsh migrate"
	@echo "make faults  faults at random points of migrations (about an hour; docs/lab.md#migfault)"
	@echo "make soak    200 migrations back and forth, RAM compared after each (docs/testing.md#soak)"
	@echo "make fuzz    corrupt streams and bad QMP input on a sanitizer build (docs/testing.md#fuzz)"
	@echo "make build-asan  the fork with ASan and UBSan (build/qemu-fork-asan)"
	@echo "make build   build the fork (build/qemu-fork) and its stock twin (build/qemu-stock)"
	@echo "make dev     import base + patches/ into build/src for editing"
	@echo "make export  write build/src's commits back to patches/"
	@echo "make deps    install Debian packages (root)"
	@echo "See README.md and docs/."

deps:
	@tools/install-deps

fetch: deps
	@tools/fetch-upstream

# build/src follows patches/ unless it holds unexported work (tools/pq sync).
src: fetch
	@tools/pq sync

build-fork: src
	@tools/build-qemu fork qemu-system-x86_64

build-lab: deps
	@tools/build-lab

# The fork with AddressSanitizer and UndefinedBehaviorSanitizer, for make
# fuzz (its own build dir; about 8-11 minutes cold on 2 cores).
build-asan: src
	@tools/build-qemu fork-asan qemu-system-x86_64

build-stock: fetch
	@tools/build-qemu stock qemu-system-x86_64

build: build-fork build-stock build-lab
	@build/qemu-fork/qemu-system-x86_64 --version | head -n 1
	@build/qemu-stock/qemu-system-x86_64 --version | head -n 1

# No test runs the stock twin: make check builds only what it uses (the
# Linux guest: the guestperf tests boot it).
check: build-fork build-lab
	@build/qemu-fork/qemu-system-x86_64 --version | head -n 1
	@tools/build-guest
	@tools/check

demo: build
	@tools/demo

# Faults at random points of migrations, and what follows each
# (docs/lab.md#migfault). Not part of check: POINTS=30 takes about an hour.
faults: build-fork build-lab
	@tools/build-guest
	@tools/faults

# Corrupt incoming streams and generated bad QMP input against the
# sanitizer build (docs/testing.md#fuzz). Not part of check, which runs a
# smaller set against the fork as built.
fuzz: build-fork build-asan build-lab
	@tools/fuzz

# Migrations back and forth under stress, each with its RAM compared
# (docs/testing.md#soak): 100 with the bare guest under KVM, 100 with the
# demo's Linux guest. Not part of check (about 35 minutes here).
soak: build-fork build-lab
	@tools/build-guest
	@tools/soak

# The fork driven through libvirt (docs/libvirt.md): two libvirtd in their
# own namespaces, migrations with virsh. check runs it too; this target
# runs it alone.
libvirt-check: build
	@tools/build-guest
	@tools/build-lab libvirt-test

dev: fetch
	@tools/pq import

export:
	@tools/pq export

pq-check: fetch
	@tools/pq check

build-each: src
	@tools/pq build-each

clean:
	rm -rf build/qemu-fork build/upstream/qemu-stock build/qemu-stock build/check
