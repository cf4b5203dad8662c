# multiplane: `make demo` and `make test` are the two commands (see README.md).
# Both install what they need first (Debian packages, cargo-nextest, hugepages).
CARGO ?= cargo

.PHONY: deps demo test lab k8s node bench-multus bench
deps:
	./.ci/install-deps

# DEMO_ARGS: --keep (leave the pod up), --quick (fewer frames, no benchmark table), --lab.
DEMO_ARGS ?=
demo: deps
	$(CARGO) build --release -p cni --bin multus -p dataplane --bin vlan-firewall -p benches --bin vlan-traffic --bin throughput
	$(CARGO) run --quiet --release -p benches --bin demo -- $(DEMO_ARGS)

test: deps
	$(CARGO) build --workspace --all-targets
	$(CARGO) nextest run --workspace --no-fail-fast -E 'not binary(/^k8s_/) and not binary(/^node_/)'
	$(CARGO) test --workspace --doc
	$(MAKE) k8s
	$(MAKE) images
	$(MAKE) node
	$(MAKE) lab

# The Kubernetes tier (cni/tests/k8s): a real etcd + kube-apiserver, built once per version into
# /var/cache/multiplane/k8s, and every `k8s_*` test of the cni crate against it; root only.
k8s:
	./cni/tests/k8s/run.sh

# The node tier (cni/tests/node): the k8s tier's control plane plus one real node on this machine
# (containerd + runc, kubelet, the DaemonSet controller and the scheduler), multiplane installed on it by
# the installer DaemonSet from the images of docker/build-images.sh, and every `node_*` test; root only.
node:
	./cni/tests/node/run.sh

# The benchmarks (README "For performance engineers"): the throughput harness (io forwarding against
# testpmd, vlan-firewall against DPDK's l3fwd --lookup=acl built into /var/cache/multiplane/l3fwd at 1,
# 10, 1 000 and 10 000 rules, 2 cores, the kernel's nftables path), then the criterion parse and classify
# benches (HTML in $CARGO_TARGET_DIR/criterion); root, about 15 minutes. BENCH_ARGS: e.g. --quick (every
# case briefly, for CI), --case acl, --rounds 5; CRITERION_ARGS: e.g. --quick.
BENCH_ARGS ?=
CRITERION_ARGS ?=
bench: deps
	$(CARGO) build --release -p dataplane --bin vlan-firewall -p benches --bin throughput
	$(CARGO) run --quiet --release -p benches --bin throughput -- $(BENCH_ARGS)
	$(CARGO) bench -p benches --bench parse --bench classify -- $(CRITERION_ARGS)

# multus ADD+DEL latency through libcni vs the bare bridge plugin, in config-file and Kubernetes mode,
# with the statically linked plugins that the installer image ships.
bench-multus: deps
	plugins=$$(CARGO=$(CARGO) ./cni/build-static-plugins.sh) && \
	  MULTUS_PLUGIN_DIR=$$plugins ./cni/tests/k8s/with-control-plane.sh $(CARGO) bench -p cni --bench multus_libcni

# The container images (docker/README.md): the CNI installer and the VNF, built with buildah from a
# local Debian base (cached in /var/cache/multiplane/images), tested, exported as OCI archives; root only.
.PHONY: images
images: deps
	CARGO=$(CARGO) ./docker/build-images.sh

# The emulated SR-IOV lab (cni/tests/lab/README.md): one guest boot running every scenario; root only.
lab:
	./cni/tests/lab/run.sh
