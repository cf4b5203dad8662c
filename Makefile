# multiplane: `make demo` and `make test` are the two commands (see README.md).
.PHONY: deps demo test
deps:
	./.ci/install-deps
demo: deps
	cargo run --release -p dataplane --bin fwd-demo
test: deps
	cargo nextest run --workspace
