// Command portico-bench runs Portico's benchmark suite on a local OpenZiti
// network and writes the figures as a table, as JSON and as a chart. It
// reports; it never fails on a timing.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/porticoproxy/portico/bench"
)

func main() {
	smoke := flag.Bool("smoke", false, "tiny sizes: check that the harness works, in a minute or two")
	out := flag.String("out", "bench/results", "directory for latest.json, latest.txt and latest.png")
	mapping := flag.Bool("mapping", true, "also run the mapping-table benchmarks (go test -bench ./bench/)")
	// For experiments; make bench uses none of these.
	conc := flag.String("concurrency", "", "comma-separated client counts of the small-request runs, instead of the mode's")
	rounds := flag.Int("rounds", 0, "runs per figure, instead of the mode's")
	bulk := flag.Int64("bulk-size", 0, "bytes of the bulk transfer, instead of the mode's")
	shares := flag.Int("shares", 0, "shares of the propagation runs, instead of the mode's")
	idle := flag.Int("frontend-idle-conns", 0, "idle keep-alive connections per share of the measured frontend (Caddy's default 32)")
	profiles := flag.String("profile-dir", "", "save the frontend's heap and goroutine profiles here after each comparison")
	replot := flag.Bool("replot", false, "measure nothing: redraw the table and the chart from the latest.json in -out")
	flag.Parse()

	if *replot {
		res, err := bench.ReadResults(filepath.Join(*out, "latest.json"))
		if err == nil {
			err = res.Write(*out)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "portico-bench:", err)
			os.Exit(1)
		}
		res.WriteTable(os.Stdout)
		return
	}

	cfg := bench.Full()
	if *smoke {
		cfg = bench.Smoke()
	}
	cfg.Mapping = cfg.Mapping && *mapping
	if *conc != "" {
		cfg.Concurrency = nil
		for _, c := range strings.Split(*conc, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(c))
			if err != nil || n < 1 {
				fmt.Fprintf(os.Stderr, "portico-bench: -concurrency %q: want positive integers\n", *conc)
				os.Exit(2)
			}
			cfg.Concurrency = append(cfg.Concurrency, n)
		}
	}
	if *rounds > 0 {
		cfg.Rounds, cfg.BulkRounds = *rounds, min(*rounds, cfg.BulkRounds)
	}
	if *bulk > 0 {
		cfg.BulkSize = *bulk
	}
	if *shares > 0 {
		cfg.Shares = *shares
	}
	cfg.FrontendIdleConns, cfg.ProfileDir = *idle, *profiles
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := bench.Run(ctx, cfg, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "portico-bench:", err)
		os.Exit(1)
	}
	if err := res.Write(*out); err != nil {
		fmt.Fprintln(os.Stderr, "portico-bench: writing results:", err)
		os.Exit(1)
	}
	res.WriteTable(os.Stdout)
	for _, m := range res.Missing() {
		fmt.Fprintln(os.Stderr, "portico-bench: missing:", m)
	}
}
