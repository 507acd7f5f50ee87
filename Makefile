# Day-to-day commands; the README's two commands are scripts/demo.sh and scripts/test.sh.

.PHONY: bench test demo

# Benchmarks report numbers and gate nothing; see bench/README.md.
bench:
	go test -run '^$$' -bench . -count 5 ./bench/

test:
	scripts/test.sh

demo:
	scripts/demo.sh
