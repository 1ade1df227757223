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
| 18% | ` + "`checkReview`" + ` (webhook/http.go): one pass for the body's apiVersion and kind, then the whole AdmissionReview |
| 19% | kubewebhook decoding the AdmissionReview again, as every kubewebhook server does (the floor too) |
| 28% | ` + "`decodeObject`" + ` (webhook/decode.go): one pass for the object's apiVersion and kind, then the object |
| 7% | the finding log lines (JSON, written to a file) |
| 10% | garbage collection |

The fix, in webhook/http.go and webhook/decode.go: the kind is read with the review, and with the object, in one
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

After the fix, a profile of the server under load shows what is left above the no-op server: ` + "`checkReview`" + `'s
decoding of the whole AdmissionReview (13% of the server's CPU), which kubewebhook repeats, and the finding log lines
(8%); the no-op server pays instead for kubewebhook's diff of the object against itself. Reading the body once would
mean checking the review after kubewebhook has decoded it, which its handler does not allow (it panics on a review
without a request, hence the check). Throughput is also bound by the load generator, which shares the two CPUs.

### Deployments through the API server

The goal that gracekeeper adds no more latency than the in-tree policies holds for Pod creates, and is missed for
Deployment creates (part 3). The means of the steps of admission show why. In a development run of sequential
Deployment creates, the API server spent 2.1 ms on each call to a webhook, of which gracekeeper's own review took
0.6 to 0.8 ms; the rest is encoding the AdmissionReview, the HTTPS round trip to another process, waiting for it to be
scheduled and decoding the answer. A Deployment CREATE makes two such calls (mutating, then validating), while the
ValidatingAdmissionPolicy that denies Recreate and OnDelete is one CEL evaluation inside the API server. For Pods the
comparison turns around: the MutatingAdmissionPolicy's apply-configuration merges, run twice, cost the API server more
than gracekeeper's one call.

Sending the typical Deployment, which needs no patch, to the validating webhook only would halve the calls. Simulated
by removing the workloads from the rules of the mutating webhook entries (10 alternating blocks of 100 sequential
dry-run Deployment creates in a namespace without policy and one with gracekeeper, on the same local control plane),
gracekeeper's added p50 went from 5.3 ms with both calls to 3.0 to 3.3 ms with the validating call only: better, and
still well above the in-tree policy's, which is under a millisecond. The chart could get there without losing a patch,
with a matchCondition on the mutating entry that sends a workload only when its rollingUpdate, revisionHistoryLimit
or (with ` + "`recreate: convert`" + `) strategy would be patched. No change to gracekeeper's own code closes the rest
of the gap: an out-of-process webhook costs a round trip that an in-process CEL check does not.
`
