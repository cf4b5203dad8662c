# multiplane: `make demo` and `make test` are the two commands (see README.md).
.PHONY: deps demo test lab
deps:
	./.ci/install-deps
demo: deps
	cargo run --release -p dataplane --bin fwd-demo
test: deps
	cargo nextest run --workspace
	$(MAKE) lab
# The emulated SR-IOV lab (cni/tests/lab/README.md): one guest boot running every scenario; root only.
lab:
	./cni/tests/lab/run.sh
