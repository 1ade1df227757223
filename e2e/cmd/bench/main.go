// Command bench runs gracekeeper's benchmarks (make bench) and writes
// docs/benchmarks.md from the figures of this one run:
//
//  1. Go benchmarks of the handler and the engine, next to the floor: the
//     same reviews through a webhook that only decodes them and encodes an
//     answer (policies/policytest.Minimal).
//  2. An HTTPS load test of `gracekeeper serve` and of a no-op kubewebhook
//     server, each a separate process on loopback.
//  3. Server-side dry-run creates through a real local API server, in a
//     namespace with no admission policy, one with gracekeeper in enforce
//     mode, two with the minimal webhook making gracekeeper's calls
//     (answering [] and gracekeeper's patch), and two with equivalent
//     in-tree admission policies (JSONPatch and ApplyConfiguration).
//  4. Peak RSS under 32 callers of maximum-size reviews.
//  5. Bounds: growth from 1 container to the largest Pod the API server
//     accepts, 32 copies of it, abandoned reviews, slow bodies and a
//     serving pair from another CA, through gracekeeper serve with the
//     chart's settings (-parts bounds runs it alone).
//
// Run it from the repository's top directory:
//
//	go run ./e2e/cmd/bench                 # make bench: everything, as documented
//	go run ./e2e/cmd/bench -parts go,load  # a quick look at parts of it
//
// Everything listens on 127.0.0.1, every load is bounded in count and time,
// and every process it starts is stopped by its PID before it returns.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	out   string
	parts []string

	count     int
	benchtime string

	loadConcurrency, loadWarmup, loadRequests, loadRounds int
	loadTimeout                                           time.Duration

	creates, apiConcurrency int
	kyverno                 bool

	binDir, gracekeeper string
	// tmp is the run's temporary directory, removed when the run ends; every
	// setup keeps its files below it.
	tmp string
}

var allParts = []string{"go", "load", "apiserver", "memory", "bounds"}

func parseOptions(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	flags := flag.NewFlagSet("bench", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.StringVar(&o.out, "out", filepath.Join("docs", "benchmarks.md"), "report to write")
	parts := flags.String("parts", strings.Join(allParts, ","), "parts to run, comma-separated: go, load, apiserver, memory, bounds")
	flags.IntVar(&o.count, "count", 6, "rounds of Go benchmarks, each running every benchmark once")
	flags.StringVar(&o.benchtime, "benchtime", "1s", "duration of each Go benchmark run (go test -benchtime)")
	flags.IntVar(&o.loadConcurrency, "load-concurrency", 8, "clients of the HTTPS load test, each with its own keep-alive connection")
	flags.IntVar(&o.loadWarmup, "load-warmup", 1000, "unmeasured reviews sent before each load run")
	flags.IntVar(&o.loadRequests, "load-requests", 20000, "reviews measured in each load run")
	flags.IntVar(&o.loadRounds, "load-rounds", 3, "load runs of each server, alternating between them")
	flags.DurationVar(&o.loadTimeout, "load-timeout", 2*time.Minute, "bound of each load run")
	flags.IntVar(&o.creates, "creates", 1000, "dry-run creates of each kind, per namespace and concurrency, through the API server")
	flags.IntVar(&o.apiConcurrency, "api-concurrency", 4, "clients of the concurrent API server runs")
	flags.BoolVar(&o.kyverno, "kyverno", false, "also measure Kyverno "+kyvernoVersion+" with an equivalent policy in part 3 (builds it: minutes)")
	flags.StringVar(&o.binDir, "bin", envOr("GRACEKEEPER_E2E_BIN", filepath.Join(".cache", "bin", "v1.37.2")), "directory of the control-plane binaries, built there if missing")
	flags.StringVar(&o.gracekeeper, "gracekeeper", "", "gracekeeper binary to run; empty builds one")
	if err := flags.Parse(args); err != nil {
		return nil, err
	}
	if flags.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", flags.Args())
	}
	for _, p := range strings.Split(*parts, ",") {
		if !slices.Contains(allParts, p) {
			return nil, fmt.Errorf("-parts: unknown part %q, want some of %s", p, strings.Join(allParts, ", "))
		}
		o.parts = append(o.parts, p)
	}
	switch {
	case o.count < 1, o.loadConcurrency < 1, o.loadRequests < 1, o.loadRounds < 1, o.creates < 1, o.apiConcurrency < 1:
		return nil, errors.New("-count, -load-concurrency, -load-requests, -load-rounds, -creates and -api-concurrency must be positive")
	case o.loadWarmup < 0:
		return nil, errors.New("-load-warmup must not be negative")
	}
	return o, nil
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func (o *options) runs(part string) bool { return slices.Contains(o.parts, part) }

func run(ctx context.Context, args []string, stderr io.Writer) error {
	opts, err := parseOptions(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join("e2e", "tools", "build.sh")); err != nil {
		return errors.New("run it from the repository's top directory (make bench)")
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(stderr, "bench: "+format+"\n", args...)
	}
	started := time.Now()
	tmp, err := os.MkdirTemp("", "gracekeeper-bench-")
	if err != nil {
		return fmt.Errorf("create temporary directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	opts.tmp = tmp

	r := &report{started: started, opts: opts, args: args}
	if r.machine, err = describeMachine(); err != nil {
		return err
	}
	if opts.gracekeeper == "" {
		opts.gracekeeper = filepath.Join(tmp, "gracekeeper")
		logf("building gracekeeper into %s", opts.gracekeeper)
		if err := buildGo(ctx, opts.gracekeeper, "./cmd/gracekeeper"); err != nil {
			return err
		}
	}
	if r.gracekeeperVersion, err = gracekeeperVersion(ctx, opts.gracekeeper); err != nil {
		return err
	}
	if r.machine.modules, err = gracekeeperModules(opts.gracekeeper); err != nil {
		return err
	}

	if opts.runs("go") {
		logf("part 1: Go benchmarks, %d rounds (-benchtime %s)", opts.count, opts.benchtime)
		if r.goBench, err = runGoBenchmarks(ctx, opts, stderr); err != nil {
			return fmt.Errorf("run the Go benchmarks: %w", err)
		}
	}
	if opts.runs("load") {
		logf("part 2: HTTPS load, %d rounds of %d reviews at concurrency %d", opts.loadRounds, opts.loadRequests, opts.loadConcurrency)
		if r.load, err = runLoad(ctx, opts, tmp, logf); err != nil {
			return fmt.Errorf("load test: %w", err)
		}
	}
	if opts.runs("apiserver") {
		logf("part 3: %d dry-run creates of each kind per namespace through a local API server", opts.creates)
		if r.api, err = runAPIServer(ctx, opts, logf); err != nil {
			return fmt.Errorf("API server benchmark: %w", err)
		}
	}
	if opts.runs("memory") {
		logf("part 4: peak RSS with %d concurrent maximum-size reviews", memoryConcurrency)
		if r.memory, err = runMemory(ctx, opts, tmp, logf); err != nil {
			return fmt.Errorf("memory benchmark: %w", err)
		}
	}
	if opts.runs("bounds") {
		logf("part 5: bounds, through gracekeeper serve with the chart's settings")
		if r.bounds, err = runBounds(ctx, opts, tmp, logf); err != nil {
			return fmt.Errorf("bounds benchmark: %w", err)
		}
	}
	r.elapsed = time.Since(started)
	if err := r.write(opts.out); err != nil {
		return err
	}
	logf("wrote %s in %s", opts.out, r.elapsed.Round(time.Second))
	for _, g := range r.goals() {
		logf("goal %s: %s", g.verdict(), g.text)
	}
	return nil
}
