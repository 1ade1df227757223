package main

// profilingNotes record how a missed goal was profiled and fixed. Their
// figures come from the side-by-side runs described, made during
// development; they are not measured again by `make bench`.
const profilingNotes = `
## Profiling: what a review cost, and the fix

The first runs missed two goals: a typical Pod CREATE cost 1.4× to 2.0× the floor, and ` + "`gracekeeper serve`" + `
reached 0.62× to 0.79× the no-op server's throughput. Profiles of the handler benchmark (` + "`go test -cpuprofile`" + `) and of
` + "`gracekeeper serve`" + ` under the load test (` + "`perf record -e cpu-clock -g -p PID`" + `: the server exposes no pprof)
agreed: JSON decoding took 55% of the server's CPU, and most of it read the same bytes more than once.

| share of the server's CPU | where |
|--:|---|
| 18% | ` + "`checkReview`" + ` (then in webhook/http.go): one pass for the body's apiVersion and kind, then the whole AdmissionReview |
| 19% | kubewebhook decoding the AdmissionReview again, as every kubewebhook server does (the floor too) |
| 28% | ` + "`decodeObject`" + ` (now in webhook/admission/decode.go): one pass for the object's apiVersion and kind, then the object |
| 7% | the finding log lines (JSON, written to a file) |
| 10% | garbage collection |

The fix, in the decoding of the review and of the object (now webhook/admission/decode.go): the kind is read with the review, and with the object, in one
pass each. Only a body or an object that does not decode is read again, so the error messages are unchanged, and
every webhook test passes unchanged. Before and after, side by side on the same machine: test binaries of both
versions (` + "`go test -overlay`" + `) in 6 alternating rounds of ` + "`-bench 'BenchmarkReview$/pod-create' -benchtime 1s`" + `,
then four runs of ` + "`go run ./e2e/cmd/bench -parts load -load-rounds 2`" + `, alternating a gracekeeper binary of each
(each ratio compares figures of the same run).

| typical Pod CREATE | before | after |
|---|--:|--:|
| CPU per review, handler benchmark | 1.11 ms, 1.38× the floor | 0.88 ms, 1.11× the floor |
| wall time per review, handler benchmark | 1.20 ms, 1.45× the floor | 0.94 ms, 1.17× the floor |
| allocations per review | 602 (77.3 KiB) | 580 (76.1 KiB) |
| ` + "`gracekeeper serve`" + ` throughput, load test | 0.79× and 0.76× the no-op server | 0.83× and 0.82× the no-op server |
| server CPU per review, load test | 1085 and 1059 µs, 1.38× and 1.37× the no-op server | 967 and 931 µs, 1.18× and 1.15× the no-op server |

After that fix, a profile of the server under load showed what was left above the no-op server: ` + "`checkReview`" + `'s
decoding of the whole AdmissionReview (13% of the server's CPU), which kubewebhook repeated, and the finding log lines
(8%). The no-op kubewebhook floor decodes the review twice itself, so the ratio to it hid the repeat.

### Decoding once, against a floor that only decodes

Issue 13 set a stricter floor: a webhook that decodes the review and its object once with sigs.k8s.io/json and encodes
an answer (` + "`policies/policytest.Minimal`" + `, part 1's floor now). Against it the handler cost twice the floor. The fix, in
webhook/http.go: a thin HTTP adapter decodes the AdmissionReview once (strictly, refusing fields that differ only in
case), checks it, and hands the decoded review to the kubewebhook webhook; kubewebhook's own HTTP handler, which can
only decode the body itself, is no longer used. (Since issue 24 the review goes through no kubewebhook type at all: package
` + "`webhook/admission`" + ` answers it, and kubewebhook only records the review durations.) Side by side (6 alternating runs of
` + "`-bench 'BenchmarkReview$/pod-create' -benchtime 3000x`" + `, the test binaries of both versions, on a machine with a load
average of 18):

| typical Pod CREATE | before | after |
|---|--:|--:|
| CPU per review, handler benchmark | 340 µs, 2.0× the decode-and-encode floor | 223 µs, 1.2× the floor |
| allocations per review | 571 (75.7 KiB) | 496 (54.6 KiB); the floor 381 (47.7 KiB) |

### Deployments through the API server

The goal that gracekeeper adds no more latency than the in-tree policies was missed for Deployment creates: a
Deployment CREATE made two webhook calls (mutating, then validating), each an encoded AdmissionReview, an HTTPS round
trip to another process and a decoded answer (2.1 ms per call in a development run, of which gracekeeper's own review
took 0.6 to 0.8 ms), while the ValidatingAdmissionPolicy is one CEL evaluation inside the API server.

The webhook entries now carry matchConditions generated from the engine's rules (` + "`webhook/admission/matchconditions.go`" + `,
docs/install.md): the typical Deployment, whose strategy and history need no patch, skips the mutating call, and an
object with nothing to fix skips both. What is left for a Deployment that needs something said is one round trip to
another process, which no change to gracekeeper's own code removes: the floors of part 3 measure it.

### The goals missed in the run of 2026-11-30 15:37 (idle machine, load average under 1)

- **Pod CREATE needing a patch, 1.13× the same-patch floor (goal 1.05×); Deployment CREATE, 1.14× the same-calls
  floor (goal 1.10×).** The gap is gracekeeper's own review, and the table "Where the time goes" shows it: a call
  to gracekeeper's mutating entry took 3.208 ms on average against 2.846 ms for the minimal webhook answering the
  same patch (+0.36 ms), and gracekeeper's review inside its handler (decoding the object, the engine, logs and
  metrics) took 0.357 ms. The same-patch floor judges nothing, so any review above about 0.12 ms misses 1.05× at
  this API-server latency. The run of 14:42 (load average 6 to 9) met both goals (1.03× and 1.02×), before the
  rules for hook forms, sidecars, surge, scale-downs and warning aggregation were merged: this run's engine does
  more, and an idle API server makes the fixed part of each call smaller, so the same review is a larger share.
- **Graceful Pod and Deployment CREATE: +0.04 ms and +0.02 ms at p50 against the ValidatingAdmissionPolicy's
  −0.15 ms (+0.10 ms allowed).** The API server made no call to gracekeeper: the cost is its evaluation of the
  generated matchConditions, as for the minimal webhook with the same conditions (+0.04 ms and +0.14 ms). The
  ValidatingAdmissionPolicy measured below no admission at all, so these differences are within the run's noise
  (about ±0.15 ms at p50).

### The API server's per-call latency (issue 24)

Issue 24 asks that the API server's own timing of a call to gracekeeper
(` + "`apiserver_admission_webhook_admission_duration_seconds`" + `) be at most 1.10× that of a call to the minimal webhook, for
the mutating Pod call and the validating Deployment call. Part 3 reads that histogram before and after each run and
compares the means (its first bucket, 5 ms, holds nearly every call). Runs of ` + "`-parts apiserver`" + ` on the shared
development machine (load average 7 to 11), before the changes below: the Pod call 1.19×, the Deployment call 1.52×.

` + "`BenchmarkServed`" + ` (webhook/served_bench_test.go) sends the same two reviews as the API server does, one at a time on
one keep-alive TLS connection, to the whole ` + "`Server`" + ` (the in-flight budget, the handler, JSON logs at info level written to
a file) and to ` + "`policies/policytest.Minimal`" + ` served as ` + "`e2e/bench/noop`" + ` serves it. Profiles of it (` + "`go test -cpuprofile`" + `,
` + "`pprof -diff_base`" + ` against the floor) showed what gracekeeper did on top: ` + "`countContainers`" + ` decoded every object a second
time to bound its containers before the real decode (about 45 µs, 15% of the served CPU), and each finding was a log
line of its own, each a write to the log file (three for the typical pod). Not the cause: TLS (the connection is
kept: no handshake in the loop), HTTP/1.1 (as the floor), the strict decoding of the envelope (within noise of the
plain one), the in-flight budget and the review-level middleware (under 6 µs together), kubewebhook's measured
wrapper (about 3 µs). The changes, in webhook/admission/decode.go and the finding log: ` + "`countContainers`" + ` first counts the
object's ` + "`{`" + ` and ` + "`null`" + ` (each container element takes one) and decodes only an object that could pass the bound, and
info level logs one line per review. CPU per review, 3 alternating rounds of the test binaries of each version:

| | before | containers counted from the braces first | and one log line per review |
|---|--:|--:|--:|
| Pod CREATE | 311 µs, 1.46× the floor | 266 µs, 1.25× | 240 µs, 1.19× |
| Deployment CREATE, validating call | 284 µs, 1.56× | 252 µs, 1.36× | 243 µs, 1.27× |

What is left above the floor on the validating call (about 45 µs) is the engine (15 µs, half of it change-cause's
sentence for a mutation the validating webhook does not make), ` + "`Decide`" + ` and the warning budget (6 µs), the log line
(9 µs) and the garbage collection of a larger heap. Through the API server the gap is larger than that: gracekeeper's
whole handler, timed inside the process during these runs, took 0.39 to 0.46 ms on average against about 0.17 ms in
the benchmark, its extra work slowed by cold caches and the shared CPUs; and the minimal webhook's validating call
(0.8 to 0.9 ms) is cheaper than its mutating one (1.5 to 1.8 ms), whose patch the API server applies, so 10% of it is
less time.

Runs of ` + "`-parts apiserver`" + ` (1000 creates, 300 for the first two), one at a time, on the shared machine (load average 7 to
11 throughout), mean call of gracekeeper over the minimal webhook's:

| gracekeeper | Pod CREATE, mutating call | Deployment CREATE, validating call |
|---|---|---|
| before the changes | 1.19×, 1.18× | 1.52×, 1.26× |
| with both changes | 1.03×, 1.14×, 1.10×, 0.99×, 1.16×, 1.06× (median 1.08×) | 1.70×, 1.24×, 1.32×, 1.13×, 1.18×, 1.15× (median 1.21×) |
| with both changes, no log line at all | 0.98× | 1.24× |
| with both changes and ` + "`GOGC=1000`" + ` | 1.12×, 0.95×, 1.11×, 1.03× (median 1.07×) | 1.12×, 1.10×, 1.22×, 1.12× (median 1.12×) |

The spread between runs of the same binary is as large as any change: on the validating call the two changes save
CPU (the table above) but no run-to-run difference that this machine can tell apart.

**Where the validating call's gap was (2026-12-07).** Throwaway builds, each through part 3, took it apart:

| gracekeeper build | validating call, gracekeeper ÷ minimal (mean) | inside the server, more than the minimal webhook |
|---|---|---|
| as shipped then | 1.17×, 1.21×, 1.14×, 1.21× | +81 to +103 µs |
| the minimal webhook's handler on ` + "`/validate/enforce`" + `, behind gracekeeper's server | 1.12×, 1.10×, 1.17×, 1.12× | +51 µs |
| the same, change-cause off (no mutating call before it) | 1.12× | |
| the minimal handler on both Deployment calls | 0.96× | +17 µs |
| one-pass decoding (below) | 1.17×, 1.09× | +46 µs |
| one-pass decoding with the cheaper peek (below) | 1.11×, 1.10×, 1.05× (paired: 1.10×, 1.08×, 1.01×) | |
| the same, ` + "`GOGC=200`" + ` for gracekeeper only | 1.15×, 1.15× (paired: 1.15×, 1.15×) | |

*Inside the server* is tcpdump on loopback: from the last byte of a request to the first of its answer, means over
about 600 calls of each. So gracekeeper's server (TLS, the budget, the drain, timeouts) and its process cost almost
nothing beyond the minimal webhook's; the gap was its own handler on the validating call and, about as much, the
work of the mutating call just before it. Collections were a part (` + "`gracekeeper serve`" + ` kept 6 to 8 MB in use,
of which 3.6 MB live, and its mark workers took 38 µs more per Deployment than the minimal webhook's), but
` + "`GOGC=200`" + ` did not help, alternating with runs of the same build without it (the table); nor were connections (tcpdump and ` + "`ss`" + `: the same four kept for the whole run), nor
the answer's warnings and audit annotations, nor the annotation the mutating call adds.

Profiles of both processes during the run (` + "`perf record`" + `) and of ` + "`BenchmarkServed`" + ` on a body the API server sent showed
why the benchmark had under-stated it: the API server's object carries its managedFields (10 KB for the bench's
Deployment, against 3 KB in the benchmark's reviews), and JSON decoding is most of a review's CPU. Decoding the
envelope and then its object reads the object's bytes three times (validating the whole body, skipping the object,
validating and decoding it again): 139 µs for that body. ` + "`Reviewer.Decode`" + ` (webhook/admission/decodeonce.go) reads the
request's kind from the body's head (the bytes before its first object; reading it token by token had cost 22 µs a
call live), then decodes the review and its objects in one pass: 91 µs, less than the minimal webhook's own two-pass
decode. Anything it cannot read so goes to the two-pass decoder, so answers and
errors do not change (TestDecodeOnceAnswersAsDecodingTwice, FuzzDecodeOnce).

The mean of 1,000 calls moves by about ±8% between runs of the same binaries: a few calls of 10 ms (a pause of the
API server, a slow spell of the machine) are 10% of the mean of calls of 0.7 ms. The goals are judged, like the load
test's throughput, on paired figures: part 3 reads the histogram after each turn (every setup's block of 100 creates,
back to back) and takes the median over the 10 turns of gracekeeper's mean call over the minimal webhook's; the
run's means and their ratio are reported beside it.
`
