// Package policytest is what gracekeeper's own tests share, as net/http/httptest
// is for code that uses net/http: golden files (Golden, GoldenDir) and the
// rule fixtures of policies/testdata/rules (RuleFixtures, LoadRuleFixture:
// policies' tests pin their findings, admission's their answers), among them
// the field cases rebuilt from public bug reports (FieldCases, FindingKeys),
// which `gracekeeper check`, `gracekeeper audit` and the webhook must judge alike;
// the sections of the documents the tests hold to the code (DocSection);
// and what the benchmarks send and measure against: the typical objects and
// admission reviews (NewReviews, PodCreateReview, ContainerHeavyReview), the
// decode-and-encode floor of any Go webhook (Minimal) and the CPU time of a
// benchmark (MeasureCPU). The benchmarks of packages policies and webhook and
// the `make bench` lab (e2e/bench, e2e/cmd/bench) send the same objects, so
// their figures compare.
//
// It is for the tests of this module only, not an API: it changes whenever
// they do. It imports no package of gracekeeper, so the tests of every package,
// policies' own included, can use it.
package policytest
