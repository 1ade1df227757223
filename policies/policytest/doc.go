// Package policytest is what gracekeeper's own tests share, as net/http/httptest
// is for code that uses net/http: golden files (Golden, GoldenDir) and the
// field cases rebuilt from public bug reports (FieldCases, FindingKeys), which
// `gracekeeper check`, `gracekeeper audit` and the webhook must judge alike.
//
// It is for the tests of this module only, not an API: it changes whenever
// they do. It imports no package of gracekeeper, so the tests of every package,
// policies' own included, can use it.
package policytest
