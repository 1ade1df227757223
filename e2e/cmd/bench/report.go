package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gracekeeper/gracekeeper/e2e/bench"
	"github.com/gracekeeper/gracekeeper/policies/policytest"
)

// report is everything docs/benchmarks.md says.
type report struct {
	started            time.Time
	elapsed            time.Duration
	opts               *options
	args               []string
	machine            machine
	gracekeeperVersion string

	goBench *goBenchResult
	load    *loadResult
	api     *apiResult
	memory  *memoryResult
	bounds  *boundsResult
}

// goal is one of the goals, judged on this run's figures.
type goal struct {
	text string
	met  bool
}

func (g goal) verdict() string {
	if g.met {
		return "met"
	}
	return "MISSED"
}

const (
	// maxPodRatio bounds the handler's CPU per typical Pod review over the
	// decode-and-encode floor's.
	maxPodRatio       = 1.3
	minThroughputRate = 0.8
	maxPeakRSS        = 64 << 20
	// maxPatchFloorRatio bounds what gracekeeper adds to a Pod CREATE that
	// needs a patch over what the minimal webhook answering the same patch
	// adds; maxCallsFloorRatio what it adds to a Deployment CREATE over the
	// minimal webhook making the same calls.
	maxPatchFloorRatio = 1.05
	maxCallsFloorRatio = 1.10
	// maxCallRatio bounds the API server's mean call to gracekeeper over
	// its mean call to the minimal webhook answering the same (callPairs).
	maxCallRatio = 1.10
	// gracefulMarginMS is how much more than the ValidatingAdmissionPolicy
	// an object with nothing to fix may cost.
	gracefulMarginMS = 0.1
)

func (r *report) goals() []goal {
	var goals []goal
	if r.goBench != nil {
		cpu, wall := r.goRatio("BenchmarkReview/pod-create", policytest.CPUUnit), r.goRatio("BenchmarkReview/pod-create", "ns/op")
		goals = append(goals, goal{fmt.Sprintf("handler: a typical Pod CREATE costs %.2f× the CPU time of the decode-and-encode floor, %.2f× its wall time (at most %.1f×)",
			cpu, wall, maxPodRatio), cpu <= maxPodRatio})
	}
	if r.load != nil {
		gk, noop := r.load.servers[0], r.load.servers[1]
		rate := bench.PairedRatio(gk.throughputs(), noop.throughputs())
		goals = append(goals,
			goal{fmt.Sprintf("gracekeeper serves %.2f× the no-op server's throughput (at least %.1f×)", rate, minThroughputRate), rate >= minThroughputRate},
			goal{fmt.Sprintf("gracekeeper's peak RSS is %s (at most %s)", mib(gk.peakRSS), mib(maxPeakRSS)), gk.peakRSS <= maxPeakRSS})
	}
	if r.memory != nil {
		peak := r.memory.bounded().peakRSS
		goals = append(goals, goal{fmt.Sprintf("%d concurrent maximum-size reviews peak at %s RSS (under the chart's %s limit)",
			memoryConcurrency, mib(peak), mib(chartMemoryLimit)), peak < chartMemoryLimit})
	}
	if r.api != nil {
		goals = append(goals, r.api.goals()...)
	}
	return goals
}

// goals are part 3's, on the runs one at a time but where said.
func (a *apiResult) goals() []goal {
	var goals []goal
	if run, ok := a.run(kindPod, 1); ok {
		gk, floor := run.added(setupGracekeeper, 0.5), run.added(setupFloorPatch, 0.5)
		goals = append(goals, goal{fmt.Sprintf("Pod CREATE needing a patch, through the API server: gracekeeper adds %s ms at p50, %.2f× the minimal webhook answering the same patch (%s ms; at most %.2f×)",
			signed(gk), gk/floor, signed(floor), maxPatchFloorRatio), gk <= maxPatchFloorRatio*floor})
	}
	if run, ok := a.run(kindDeployment, 1); ok {
		gk, floor := run.added(setupGracekeeper, 0.5), run.added(setupFloorEmpty, 0.5)
		goals = append(goals, goal{fmt.Sprintf("Deployment CREATE, through the API server: gracekeeper adds %s ms at p50, %.2f× the minimal webhook making the same calls (%s ms; at most %.2f×)",
			signed(gk), gk/floor, signed(floor), maxCallsFloorRatio), gk <= maxCallsFloorRatio*floor})
	}
	for _, kind := range []string{kindPod, kindDeployment} {
		run, ok := a.run(kind, 1)
		pair := callPairs[kind]
		gk, floor := run.calls[pair.gracekeeper], run.calls[pair.floor]
		if !ok || gk == nil || floor == nil {
			continue
		}
		paired := run.pairedCallRatio(pair)
		goals = append(goals, goal{fmt.Sprintf("%s, by the API server's histogram of its webhook calls: a call to gracekeeper costs %.3f× the same call to the minimal webhook (in the namespace where it answers %s), the median over %d turns of the ratio of their mean calls (at most %.2f×); over all %.0f calls, %.3f ms against %.3f ms, %.3f×",
			pair.what, paired, pair.floorDoes, len(run.turns), maxCallRatio, gk.count, ms(gk.mean()), ms(floor.mean()), float64(gk.mean())/float64(floor.mean())), paired > 0 && paired <= maxCallRatio})
	}
	if vapRun, ok := a.run(kindGracefulDeployment, 1); ok {
		vap := vapRun.added(setupInTreeJSONPatch, 0.5)
		for _, kind := range []string{kindGracefulPod, kindGracefulDeployment} {
			run, ok := a.run(kind, 1)
			if !ok {
				continue
			}
			gk := run.added(setupGracekeeper, 0.5)
			// The minimal webhook has the same matchConditions and makes no call either:
			// what it adds is the API server evaluating them.
			goals = append(goals, goal{fmt.Sprintf("%s CREATE: gracekeeper adds %s ms at p50 (the ValidatingAdmissionPolicy %s ms; at most %s ms more; the minimal webhook with the same matchConditions %s ms), and the API server made %d calls to its webhooks (none)",
				capitalize(kind), signed(gk), signed(vap), signed(gracefulMarginMS), signed(run.added(setupFloorEmpty, 0.5)), run.gracekeeperCalls), gk <= vap+gracefulMarginMS && run.gracekeeperCalls == 0})
		}
	}
	for _, run := range a.runs {
		if run.kind != kindPod && run.kind != kindDeployment {
			continue
		}
		gk, inTree := run.added(setupGracekeeper, 0.5), run.added(setupInTreeJSONPatch, 0.5)
		g := goal{fmt.Sprintf("%s creates, %s: gracekeeper adds %s ms at p50, the in-tree policies (JSONPatch form) %s ms (no more than them)",
			run.kind, concurrencyText(run.concurrency), signed(gk), signed(inTree)), gk <= inTree}
		if !g.met {
			g.text += fmt.Sprintf("; the minimal webhook making the same calls adds %s ms: the price of a call to another process, which a policy inside the API server does not pay",
				signed(run.added(setupFloorEmpty, 0.5)))
		}
		goals = append(goals, g)
	}
	return goals
}

// callPair is the call a kind's CREATE makes to gracekeeper, and the same
// call to the minimal webhook, by the webhook names the API server's
// metrics give them.
type callPair struct {
	what, gracekeeper, floor, floorDoes string
}

var callPairs = map[string]callPair{
	kindPod: {"Pod CREATE needing a patch, mutating call",
		"enforce.mutate.gracekeeper.io", "patch.mutate.floor.gracekeeper.io", "the same patch"},
	kindDeployment: {"Deployment CREATE, validating call",
		"enforce.validate.gracekeeper.io", "empty.validate.floor.gracekeeper.io", "[]"},
}

// pairedCallRatio is the median, over the run's turns, of gracekeeper's
// mean call in the turn over the minimal webhook's. Each turn measures both
// within seconds, so a slow spell of the shared machine, or a pause of the
// API server, counts in one turn's ratio rather than in the run's means: a
// few calls of 10 ms move the mean of 1,000 calls of 0.7 ms by 10%. 0
// without turns.
func (run apiRun) pairedCallRatio(pair callPair) float64 {
	return bench.Median(run.turnCallRatios(pair))
}

// turnCallRatios are, turn by turn, gracekeeper's mean call over the
// minimal webhook's.
func (run apiRun) turnCallRatios(pair callPair) []float64 {
	var gk, floor []float64
	for _, calls := range run.turns {
		if g, f := calls[pair.gracekeeper], calls[pair.floor]; g != nil && f != nil {
			gk, floor = append(gk, float64(g.mean())), append(floor, float64(f.mean()))
		}
	}
	return bench.PairedRatios(gk, floor)
}

// run is the run of a kind at a concurrency.
func (a *apiResult) run(kind string, concurrency int) (apiRun, bool) {
	for _, run := range a.runs {
		if run.kind == kind && run.concurrency == concurrency {
			return run, true
		}
	}
	return apiRun{}, false
}

func capitalize(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

// goRatio is gracekeeper's cost over the floor's for a review, in unit,
// round by round.
func (r *report) goRatio(prefix, unit string) float64 {
	gk, floor := r.goBench.find(webhookPackage, prefix+"/gracekeeper"), r.goBench.find(webhookPackage, prefix+"/floor")
	if gk == nil || floor == nil {
		return 0
	}
	return bench.PairedRatio(gk.Runs[unit], floor.Runs[unit])
}

// added is how many milliseconds setup i adds to the no-policy namespace
// at quantile q.
func (run apiRun) added(i int, q float64) float64 {
	return ms(bench.Quantile(run.latencies[i], q)) - ms(bench.Quantile(run.latencies[0], q))
}

func (r *report) write(path string) error {
	var b bytes.Buffer
	r.writeHeader(&b)
	if r.goBench != nil {
		r.writeGoBench(&b)
	}
	if r.load != nil {
		r.writeLoad(&b)
	}
	if r.api != nil {
		r.writeAPI(&b)
	}
	if r.memory != nil {
		r.writeMemory(&b)
	}
	if r.bounds != nil {
		r.writeBounds(&b)
	}
	b.WriteString(profilingNotes)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

func (r *report) writeHeader(b *bytes.Buffer) {
	command := "`" + strings.TrimSpace("go run ./e2e/cmd/bench "+shellJoin(r.args)) + "`"
	if os.Getenv("MAKELEVEL") != "" {
		command = "`make bench`, which ran " + command + ","
	}
	fmt.Fprintf(b, "# Benchmarks\n\n")
	fmt.Fprintf(b, "Generated by %s on %s, in %s. Do not edit by hand: run it again.\n\n",
		command, r.started.UTC().Format("2006-01-02 15:04 MST"), r.elapsed.Round(time.Second))
	fmt.Fprintf(b, "An admission webhook sits on the path of every pod creation, so its cost must be known and near the floor. "+
		"Every figure up to *Profiling* was taken in this one run, and every ratio compares figures taken side by side. "+
		"The machine is shared with other work: absolute times are noisy and mean little on their own.\n\n")
	fmt.Fprintf(b, "For a quicker look at a part, pass flags through make, e.g. `make bench BENCH_FLAGS='-parts go -count 3 -out /tmp/bench.md'` "+
		"(`go run ./e2e/cmd/bench -h` lists them).\n\n")

	fmt.Fprintf(b, "## Goals\n\n| goal | result |\n|---|---|\n")
	for _, g := range r.goals() {
		fmt.Fprintf(b, "| %s | %s |\n", g.text, g.verdict())
	}

	m := r.machine
	fmt.Fprintf(b, "\n## Machine and versions\n\n")
	fmt.Fprintf(b, "| | |\n|---|---|\n")
	fmt.Fprintf(b, "| CPU | %s, %d logical CPUs (nproc) |\n", m.cpuModel, m.cpus)
	fmt.Fprintf(b, "| memory | %s |\n", m.memory)
	fmt.Fprintf(b, "| kernel | Linux %s |\n", m.kernel)
	fmt.Fprintf(b, "| load average (1 min) | %s at the start, %s at the end |\n", m.loadAverage, loadAverage())
	fmt.Fprintf(b, "| Go | %s |\n", m.goVersion)
	fmt.Fprintf(b, "| gracekeeper | %s |\n", r.gracekeeperVersion)
	if r.api != nil {
		fmt.Fprintf(b, "| kube-apiserver | %s (local control plane of e2e/cluster) |\n", r.api.serverVersion)
	}
	for _, mod := range m.modules {
		path, version, _ := strings.Cut(mod, " ")
		fmt.Fprintf(b, "| %s | %s |\n", path, version)
	}
	fmt.Fprintf(b, "\nThe reviews are built by package `policies/policytest`: a typical pod of %d containers (probes, env, volumes, resources, "+
		"security contexts; %s of JSON as the API server sends it), a Deployment of that pod, its scale subresource, and a running pod.\n",
		policytest.TypicalContainers, kb(podObjectBytes(policytest.TypicalContainers)))
}

func (r *report) writeGoBench(b *bytes.Buffer) {
	g := r.goBench
	fmt.Fprintf(b, "\n## 1. Handler and engine (Go benchmarks)\n\n")
	fmt.Fprintf(b, "```\n%s\n```\n\n", g.command)
	fmt.Fprintf(b, "Run %d times in a row, so that each benchmark and its floor run seconds apart in every round.\n\n", g.rounds)
	fmt.Fprintf(b, "`BenchmarkReview` sends each AdmissionReview through gracekeeper's whole HTTP handler, as `gracekeeper serve` runs it "+
		"(decoding and checks, the engine, `Decide` and the warning budget, metrics, JSON logs written nowhere): JSON in, JSON out. "+
		"The floor is the decode-and-encode-only floor of any Go webhook: the same review through `policies/policytest.Minimal`, which decodes the review and its objects "+
		"with sigs.k8s.io/json and encodes an answer carrying the patch gracekeeper answers, judging nothing.\n\n")
	fmt.Fprintf(b, "*Time* is wall time per review (ns/op); *CPU* is the CPU time of the whole test process per review, garbage collection included "+
		"(cpu-ns/op, from getrusage): what a review costs the server, and less disturbed than wall time by other work on the machine. "+
		"Times are medians of the %d rounds, ± the farthest round from the median; ratios are medians of the ratios of each round.\n\n", g.rounds)

	reviews, _ := policytest.NewReviews()
	sizes := map[string]int{}
	if reviews != nil {
		sizes = map[string]int{
			"pod-create": len(reviews.PodCreate), "deployment-update-mutate": len(reviews.DeploymentUpdate),
			"deployment-update-validate": len(reviews.DeploymentUpdate), "scale-update": len(reviews.ScaleUpdate), "pod-delete": len(reviews.PodDelete),
		}
	}
	fmt.Fprintf(b, "| review | path | size | gracekeeper time | floor time | ratio | gracekeeper CPU | floor CPU | CPU ratio | B/op (gracekeeper / floor) | allocs/op (gracekeeper / floor) |\n")
	fmt.Fprintf(b, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, c := range []struct{ name, title, path string }{
		{"pod-create", "Pod CREATE (typical)", "/mutate/enforce"},
		{"deployment-update-mutate", "Deployment UPDATE", "/mutate/enforce"},
		{"deployment-update-validate", "Deployment UPDATE", "/validate/enforce"},
		{"scale-update", "Scale UPDATE", "/validate/enforce"},
		{"pod-delete", "Pod DELETE", "/validate/enforce"},
	} {
		gk, floor := g.find(webhookPackage, "BenchmarkReview/"+c.name+"/gracekeeper"), g.find(webhookPackage, "BenchmarkReview/"+c.name+"/floor")
		if gk == nil || floor == nil {
			continue
		}
		fmt.Fprintf(b, "| %s | `%s` | %s | %s | %s | %.2f× | %s | %s | %.2f× | %s / %s | %.0f / %.0f |\n",
			c.title, c.path, kb(sizes[c.name]),
			timeCell(gk, "ns/op"), timeCell(floor, "ns/op"), bench.PairedRatio(gk.Runs["ns/op"], floor.Runs["ns/op"]),
			timeCell(gk, policytest.CPUUnit), timeCell(floor, policytest.CPUUnit), bench.PairedRatio(gk.Runs[policytest.CPUUnit], floor.Runs[policytest.CPUUnit]),
			bytesCell(gk.Median("B/op")), bytesCell(floor.Median("B/op")), gk.Median("allocs/op"), floor.Median("allocs/op"))
	}

	fmt.Fprintf(b, "\nOn the validating path gracekeeper decodes the stored object too, for the rules that compare old and new "+
		"(the floor decodes one object). A review with findings logs one line at info level, naming its rules by outcome.\n")
	fmt.Fprintf(b, "\n### Growth with the number of containers\n\n")
	fmt.Fprintf(b, "A Pod CREATE with 1, 10 and 50 containers, in CPU time. Linear growth shows as a flat cost per added container.\n\n")
	fmt.Fprintf(b, "| containers | review size | gracekeeper CPU | per container | per added container | floor CPU | CPU ratio | engine alone | engine per container |\n")
	fmt.Fprintf(b, "|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	var prevN int
	var prevCPU float64
	for _, n := range []int{1, 10, 50} {
		gk := g.find(webhookPackage, fmt.Sprintf("BenchmarkReviewPodContainers/containers=%d/gracekeeper", n))
		floor := g.find(webhookPackage, fmt.Sprintf("BenchmarkReviewPodContainers/containers=%d/floor", n))
		engine := g.find(policiesPackage, fmt.Sprintf("BenchmarkEvaluatePodContainers/containers=%d", n))
		if gk == nil || floor == nil || engine == nil {
			continue
		}
		body, _ := policytest.PodCreateReview(n)
		cpu := gk.Median(policytest.CPUUnit)
		marginal := "–"
		if prevN > 0 {
			marginal = duration((cpu - prevCPU) / float64(n-prevN))
		}
		fmt.Fprintf(b, "| %d | %s | %s | %s | %s | %s | %.2f× | %s | %s |\n",
			n, kb(len(body)), timeCell(gk, policytest.CPUUnit), duration(cpu/float64(n)), marginal,
			timeCell(floor, policytest.CPUUnit), bench.PairedRatio(gk.Runs[policytest.CPUUnit], floor.Runs[policytest.CPUUnit]),
			timeCell(engine, policytest.CPUUnit), duration(engine.Median(policytest.CPUUnit)/float64(n)))
		prevN, prevCPU = n, cpu
	}

	fmt.Fprintf(b, "\n### The engine alone\n\n")
	fmt.Fprintf(b, "`BenchmarkEvaluate`: `Engine.Evaluate` and `Decide` on the same objects, already decoded. "+
		"The rest of a review's cost is JSON and HTTP.\n\n")
	fmt.Fprintf(b, "| review | time | CPU | B/op | allocs/op |\n|---|--:|--:|--:|--:|\n")
	for _, name := range []string{"pod-create", "deployment-update", "scale-update", "pod-delete"} {
		if e := g.find(policiesPackage, "BenchmarkEvaluate/"+name); e != nil {
			fmt.Fprintf(b, "| %s | %s | %s | %s | %.0f |\n", name, timeCell(e, "ns/op"), timeCell(e, policytest.CPUUnit), bytesCell(e.Median("B/op")), e.Median("allocs/op"))
		}
	}
	fmt.Fprintf(b, "\n<details><summary>Raw <code>go test</code> output (for benchstat)</summary>\n\n```\n%s```\n\n</details>\n", g.output)
}

func (r *report) writeLoad(b *bytes.Buffer) {
	l := r.load
	fmt.Fprintf(b, "\n## 2. HTTPS server under load\n\n")
	fmt.Fprintf(b, "A closed-loop load generator (`e2e/bench.Load`, in the bench process) keeps %d clients busy, each on its own keep-alive "+
		"TLS connection over loopback, each sending its next review when the last is answered. "+
		"Every run sends %d unmeasured warm-up reviews, then %d measured ones, of the typical Pod CREATE (%s) to `%s`; "+
		"each server gets %d runs, the two taking turns. Every answer is checked (HTTP 200, allowed), and the first one in full "+
		"(gracekeeper's patch gives each container its preStop hook; the no-op server's patch is empty). "+
		"Figures are medians of the runs; ratios are medians of the ratios of each round. "+
		"Server CPU per review is the server process's CPU time (/proc/PID/stat) over the reviews of a run, warm-up included. "+
		"The load generator shares the machine's CPUs with the server.\n\n",
		r.opts.loadConcurrency, r.opts.loadWarmup, r.opts.loadRequests, kb(l.bodyBytes), loadPath, r.opts.loadRounds)
	fmt.Fprintf(b, "| server | throughput (reviews/s) | p50 | p99 | server CPU per review | peak RSS (VmHWM) | throughput of each run |\n")
	fmt.Fprintf(b, "|---|--:|--:|--:|--:|--:|---|\n")
	for _, s := range l.servers {
		var runs []string
		for _, t := range s.throughputs() {
			runs = append(runs, fmt.Sprintf("%.0f", t))
		}
		fmt.Fprintf(b, "| %s | %.0f | %.2f ms | %.2f ms | %.0f µs | %s | %s |\n", s.name, bench.Median(s.throughputs()),
			bench.Median(s.quantiles(0.5)), bench.Median(s.quantiles(0.99)), bench.Median(s.cpuMicros()), mib(s.peakRSS), strings.Join(runs, ", "))
	}
	gk, noop := l.servers[0], l.servers[1]
	fmt.Fprintf(b, "| gracekeeper / no-op | %.2f× | %.2f× | %.2f× | %.2f× | %.2f× | |\n",
		bench.PairedRatio(gk.throughputs(), noop.throughputs()),
		bench.PairedRatio(gk.quantiles(0.5), noop.quantiles(0.5)),
		bench.PairedRatio(gk.quantiles(0.99), noop.quantiles(0.99)),
		bench.PairedRatio(gk.cpuMicros(), noop.cpuMicros()),
		float64(gk.peakRSS)/float64(noop.peakRSS))
	fmt.Fprintf(b, "\nThe servers ran as:\n\n```\n")
	for _, s := range l.servers {
		fmt.Fprintf(b, "%s\n", s.command)
	}
	fmt.Fprintf(b, "```\n\n`gracekeeper serve` logs every finding as JSON at the default level, to a file, as it would in a cluster. "+
		"The no-op server is `e2e/bench/noop`: the same no-op webhooks as the floor above, HTTP/1.1 like gracekeeper.\n")
}

func (r *report) writeAPI(b *bytes.Buffer) {
	a := r.api
	fmt.Fprintf(b, "\n## 3. Through the real API server\n\n")
	fmt.Fprintf(b, "A local control plane (etcd, kube-apiserver %s, controllers, kwok; `e2e/cluster`) on loopback, with gracekeeper installed "+
		"as users install it (the chart's webhook configurations, pointed at `gracekeeper serve` on loopback), and beside it, each in a namespace of its own:\n\n"+
		"- the **minimal webhook** (`policies/policytest.Minimal`, served by `e2e/bench/noop --minimal-patch`, another process on loopback): it decodes the review and the object "+
		"with sigs.k8s.io/json and answers, judging nothing. It is registered with copies of gracekeeper's enforce entries (rules, matchConditions, failure and "+
		"reinvocation policies as the chart renders them), so it gets exactly the calls gracekeeper gets. One copy answers `[]`: the price of being a webhook at all. "+
		"The other answers gracekeeper's exact patch of the typical pod: the price of that mutation inside the API server;\n"+
		"- the **in-tree policies** below, with the MutatingAdmissionPolicy in its JSONPatch form in one namespace and its ApplyConfiguration form in another.\n\n"+
		"An admin client without client-side rate limits sends server-side dry-run creates (`dryRun: All`: the whole admission chain, nothing stored) "+
		"of the typical pod, of its Deployment, and of both made graceful (every container with a preStop sleep of 5 s, a grace period of 30 s: nothing for gracekeeper to do), "+
		"%d of each per namespace, one at a time; the typical ones again %d at a time. "+
		"The namespaces take turns in blocks of %d, so that a slow spell of the machine hits them alike; a warm-up block of each kind runs first. "+
		"Before measuring, the benchmark checks that each namespace gets what it should: the pod comes back with a preStop sleep of 5 s in every container and a "+
		"grace period of 30 s (or, without policy and from the minimal webhook answering `[]`, unchanged), and a Recreate Deployment and an OnDelete StatefulSet are denied "+
		"by gracekeeper and by the in-tree policies. *× none* is the setup's latency over that without admission; *gracekeeper ÷* is gracekeeper's added latency over the setup's.\n\n"+
		"Below each run's end-to-end figures are the API server's own timings of its calls to each webhook during that run, from its histogram `%s` "+
		"read before and after the run: a call covers encoding the AdmissionReview, the HTTPS round trip, the webhook's handler and reading its answer. "+
		"Its buckets (5 ms, 25 ms, 100 ms, ...) hold nearly every call in the first, so quantiles interpolated inside a bucket would say nothing: "+
		"calls are compared by their mean, which the histogram's sum and count give exactly. The goals compare gracekeeper's mutating call on Pod CREATEs "+
		"with the minimal webhook's answering the same patch, and its validating call on Deployment CREATEs with the minimal webhook's making the same call.\n\n",
		a.serverVersion, r.opts.creates, r.opts.apiConcurrency, block, webhookCallMetric)
	for _, run := range a.runs {
		fmt.Fprintf(b, "**%s creates, %s**", capitalize(run.kind), concurrencyText(run.concurrency))
		fmt.Fprintf(b, " (calls to gracekeeper's webhooks during the run, by the API server's metrics: %d)\n\n", run.gracekeeperCalls)
		fmt.Fprintf(b, "| namespace | p50 | p99 | added p50 | added p99 | p50 × none | p99 × none | gracekeeper ÷ (added p50) |\n|---|--:|--:|--:|--:|--:|--:|--:|\n")
		for i, s := range setups {
			p50, p99 := ms(bench.Quantile(run.latencies[i], 0.5)), ms(bench.Quantile(run.latencies[i], 0.99))
			none50, none99 := ms(bench.Quantile(run.latencies[setupNone], 0.5)), ms(bench.Quantile(run.latencies[setupNone], 0.99))
			added50, added99, ratio := "–", "–", "–"
			if i != setupNone {
				added50, added99 = signed(run.added(i, 0.5))+" ms", signed(run.added(i, 0.99))+" ms"
				ratio = fmt.Sprintf("%.2f×", run.added(setupGracekeeper, 0.5)/run.added(i, 0.5))
			}
			fmt.Fprintf(b, "| %s | %.2f ms | %.2f ms | %s | %s | %.2f× | %.2f× | %s |\n", s.name, p50, p99, added50, added99, p50/none50, p99/none99, ratio)
		}
		fmt.Fprintln(b)
		writeCalls(b, run)
	}
	fmt.Fprintf(b, "A Pod CREATE that needs a patch reaches gracekeeper's mutating webhook only. A Deployment CREATE reaches its mutating webhook (change-cause) "+
		"and then its validating webhook, which reports the hooks and grace period its pods will get. A graceful Pod reaches neither; the calls of each run are in its table. "+
		"In the in-tree namespaces, a Pod CREATE runs the MutatingAdmissionPolicy and a Deployment CREATE the ValidatingAdmissionPolicy.\n\n")
	if len(a.steps) > 0 {
		fmt.Fprintf(b, "Where the time goes: the mean duration of each step of admission over the whole run (warm-up and checks included), "+
			"from the API server's metrics and gracekeeper's. A call to a webhook, as the API server times it, covers encoding the AdmissionReview, "+
			"the HTTPS round trip and the webhook's whole handler; gracekeeper's review is the part inside its handler after the review is decoded "+
			"(decoding the object, the engine, logs and metrics). A MutatingAdmissionPolicy that changes the pod runs twice per pod: "+
			"with reinvocationPolicy IfNeeded (as gracekeeper's webhook has, so that containers added by a later webhook get their hook too) "+
			"the API server runs it again. The means include the runs at %d at a time, and so the waits of a busy server.\n\n",
			r.opts.apiConcurrency)
		fmt.Fprintf(b, "| step | count | mean |\n|---|--:|--:|\n")
		for _, s := range a.steps {
			fmt.Fprintf(b, "| %s | %d | %.3f ms |\n", s.what, s.calls, ms(s.mean))
		}
		fmt.Fprintln(b)
	}
	fmt.Fprintf(b, "<details><summary>The in-tree policies</summary>\n\n```yaml\n%s```\n\n", inTreePolicies)
	fmt.Fprintf(b, "The ValidatingAdmissionPolicy also gets the matchConditions of gracekeeper's validating webhooks that spare the system actors, from the chart:\n\n```yaml\nmatchConditions:\n")
	for _, mc := range a.matchConditions {
		fmt.Fprintf(b, "- name: %s\n  expression: %q\n", mc.Name, mc.Expression)
	}
	fmt.Fprintf(b, "```\n\n</details>\n")
}

// writeCalls is the API server's histogram of its calls to each webhook
// during a run, gracekeeper's beside the minimal webhook's. The histogram's
// buckets (5 ms, 25 ms, ...) are too wide for quantiles of calls that take
// a few milliseconds, so calls are compared by their mean, which its sum
// and count give exactly.
func writeCalls(b *bytes.Buffer, run apiRun) {
	var names []string
	for name := range run.calls {
		if !strings.HasPrefix(name, "namespaces.") {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return
	}
	slices.Sort(names)
	// The bounds up to the first that holds every call.
	var bounds []float64
	for _, le := range run.calls[names[0]].bounds() {
		bounds = append(bounds, le)
		full := true
		for _, name := range names {
			h := run.calls[name]
			full = full && h.buckets[le] >= h.count
		}
		if full {
			break
		}
	}
	// gracekeeper's entries are compared with the minimal webhook's same
	// entry in the namespace of the run's goal (answering the same patch for
	// Pods, [] for Deployments).
	variant, _, _ := strings.Cut(callPairs[run.kind].floor, ".")
	counterpart := func(name string) *callHistogram {
		entry, ok := strings.CutPrefix(name, "enforce.")
		if !ok || !isGracekeeper(name) || variant == "" {
			return nil
		}
		return run.calls[variant+"."+strings.TrimSuffix(entry, ".gracekeeper.io")+".floor.gracekeeper.io"]
	}
	fmt.Fprintf(b, "The API server's calls to the webhooks during this run, by its histogram `%s`: the mean call, and the share of calls within each bucket's bound", webhookCallMetric)
	if variant != "" {
		fmt.Fprintf(b, "; *÷ minimal* is the mean of a call to gracekeeper over that of the same call to the minimal webhook in the namespace where it answers %s", callPairs[run.kind].floorDoes)
	}
	fmt.Fprintf(b, ".\n\n| webhook | calls | mean | ÷ minimal |")
	for _, le := range bounds {
		fmt.Fprintf(b, " ≤ %s |", time.Duration(le*float64(time.Second)))
	}
	fmt.Fprintf(b, "\n|---|--:|--:|--:|%s\n", strings.Repeat("--:|", len(bounds)))
	for _, name := range names {
		h := run.calls[name]
		ratio := "–"
		if floor := counterpart(name); floor != nil {
			ratio = fmt.Sprintf("%.3f×", float64(h.mean())/float64(floor.mean()))
		}
		fmt.Fprintf(b, "| %s | %.0f | %.3f ms | %s |", name, h.count, ms(h.mean()), ratio)
		for _, le := range bounds {
			fmt.Fprintf(b, " %.1f%% |", 100*h.buckets[le]/h.count)
		}
		fmt.Fprintln(b)
	}
	fmt.Fprintln(b)
	if pair, ok := callPairs[run.kind]; ok {
		if ratios := run.turnCallRatios(pair); len(ratios) > 0 {
			texts := make([]string, len(ratios))
			for i, r := range ratios {
				texts[i] = fmt.Sprintf("%.3f×", r)
			}
			fmt.Fprintf(b, "Turn by turn (each setup's block of %d creates, back to back), the mean call to %s over the mean call to %s: %s; median %.3f×.\n\n",
				block, pair.gracekeeper, pair.floor, strings.Join(texts, ", "), bench.Median(ratios))
		}
	}
}

func podObjectBytes(containers int) int {
	data, err := json.Marshal(policytest.AdmittedPod(containers))
	if err != nil {
		return 0
	}
	return len(data)
}

func concurrencyText(n int) string {
	if n == 1 {
		return "one at a time"
	}
	return fmt.Sprintf("%d at a time", n)
}

// timeCell is a benchmark's median time in unit, with its spread.
func timeCell(g *bench.GoBenchmark, unit string) string {
	return fmt.Sprintf("%s ±%.0f%%", duration(g.Median(unit)), 100*bench.Spread(g.Runs[unit]))
}

// duration formats nanoseconds with a unit that keeps three digits.
func duration(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	default:
		return fmt.Sprintf("%.0f ns", ns)
	}
}

func bytesCell(n float64) string {
	if n >= 1<<10 {
		return fmt.Sprintf("%.1f KiB", n/(1<<10))
	}
	return fmt.Sprintf("%.0f B", n)
}

func kb(n int) string { return fmt.Sprintf("%.1f KB", float64(n)/1000) }

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func signed(x float64) string { return fmt.Sprintf("%+.2f", x) }
