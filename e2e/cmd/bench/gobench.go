package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"

	"github.com/gracekeeper/gracekeeper/e2e/bench"
)

const (
	webhookPackage  = "github.com/gracekeeper/gracekeeper/webhook"
	policiesPackage = "github.com/gracekeeper/gracekeeper/policies"
	// goBenchmarks are the benchmarks of webhook/bench_test.go and
	// policies/bench_test.go, and no others.
	goBenchmarks = "^(BenchmarkReview|BenchmarkReviewPodContainers|BenchmarkEvaluate|BenchmarkEvaluatePodContainers)$"
)

// goBenchResult is part 1: the output of rounds of `go test -bench`.
type goBenchResult struct {
	command    string
	rounds     int
	output     string
	benchmarks []*bench.GoBenchmark
}

// runGoBenchmarks runs every benchmark once per round, opts.count rounds in
// a row, rather than each one opts.count times in a row (go test -count):
// a benchmark and its floor then run seconds apart in every round, and
// their ratio can be taken round by round.
func runGoBenchmarks(ctx context.Context, opts *options, progress io.Writer) (*goBenchResult, error) {
	args := []string{"test", "-run", "^$", "-bench", goBenchmarks, "-benchmem",
		"-count", "1", "-benchtime", opts.benchtime, "-timeout", "30m", "./webhook", "./policies"}
	var out bytes.Buffer
	for round := range opts.count {
		fmt.Fprintf(progress, "bench: Go benchmarks, round %d of %d\n", round+1, opts.count)
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Stdout = io.MultiWriter(&out, progress)
		cmd.Stderr = progress
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
		}
	}
	benchmarks, err := bench.ParseGoBench(bytes.NewReader(out.Bytes()))
	if err != nil {
		return nil, err
	}
	r := &goBenchResult{command: "go " + shellJoin(args), rounds: opts.count, output: out.String(), benchmarks: benchmarks}
	// Every benchmark ran in every round, or the rounds do not pair up.
	for _, b := range benchmarks {
		if n := len(b.Runs["ns/op"]); n != opts.count {
			return nil, fmt.Errorf("%s %s has %d results for %d rounds", b.Package, b.Name, n, opts.count)
		}
	}
	for _, name := range []string{"BenchmarkReview/pod-create/gracekeeper", "BenchmarkReview/pod-create/floor"} {
		if r.find(webhookPackage, name) == nil {
			return nil, fmt.Errorf("go test printed no result for %s", name)
		}
	}
	return r, nil
}

// find returns the named benchmark of a package, or nil.
func (r *goBenchResult) find(pkg, name string) *bench.GoBenchmark {
	for _, b := range r.benchmarks {
		if b.Package == pkg && b.Name == name {
			return b
		}
	}
	return nil
}

// shellJoin quotes the arguments that a shell would split or expand.
func shellJoin(args []string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, "^$|()*? ") {
			a = "'" + a + "'"
		}
		quoted[i] = a
	}
	return strings.Join(quoted, " ")
}
