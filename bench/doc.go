// Package bench measures Portico: the data plane, the control plane and
// the mapping table, on a local OpenZiti network with the real binaries.
// Benchmarks are not tests: they report figures (bench/README.md, and
// `go run ./bench/cmd/portico-bench`) and never gate on a timing.
package bench
