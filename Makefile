# multiplane: `make demo` and `make test` are the two commands (see README.md).
# Both install what they need first (Debian packages, cargo-nextest, hugepages).
CARGO ?= cargo

.PHONY: deps demo test lab
deps:
	./.ci/install-deps

demo: deps
	$(CARGO) build --release -p dataplane --bin vlan-firewall
	$(CARGO) run --release -p benches --bin throughput

test: deps
	$(CARGO) build --workspace --all-targets
	$(CARGO) nextest run --workspace --no-fail-fast
	$(CARGO) test --workspace --doc
	$(MAKE) lab

# The emulated SR-IOV lab (cni/tests/lab/README.md): one guest boot running every scenario; root only.
lab:
	./cni/tests/lab/run.sh
