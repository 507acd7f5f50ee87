# Day-to-day commands; the README's two commands are scripts/demo.sh and scripts/test.sh.

.PHONY: bench bench-smoke test demo

# Benchmarks report numbers and gate nothing; see bench/README.md. The
# harness runs every comparison on a local OpenZiti network, then the
# mapping-table benchmarks (go test -run '^$$' -bench . -count 5 ./bench/),
# and writes bench/results/latest.{txt,json,png}.
bench:
	scripts/bench.sh

# The same run with tiny sizes, in about a minute; its figures mean nothing.
bench-smoke:
	scripts/bench.sh -smoke -out $${TMPDIR:-/tmp}/portico-bench-smoke

test:
	scripts/test.sh

demo:
	scripts/demo.sh
