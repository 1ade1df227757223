package policytest

import (
	"syscall"
	"testing"
	"time"
)

// CPUUnit is the unit of the metric MeasureCPU reports.
const CPUUnit = "cpu-ns/op"

// MeasureCPU starts measuring the CPU time of the whole process, garbage
// collection included; the returned function reports it per iteration of
// b's loop as CPUUnit. Wall time (ns/op) also counts the time a benchmark
// waits for a CPU on a busy machine, and leaves out the collector's work on
// other CPUs; CPU time is what a review costs the server.
func MeasureCPU(b *testing.B) (stop func()) {
	b.Helper()
	start, err := processCPU()
	if err != nil {
		b.Fatal(err)
	}
	return func() {
		end, err := processCPU()
		if err != nil {
			b.Fatal(err)
		}
		if b.N > 0 {
			b.ReportMetric(float64(end-start)/float64(b.N), CPUUnit)
		}
	}
}

// processCPU is the user and system time this process has used.
func processCPU() (time.Duration, error) {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return 0, err
	}
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano()), nil
}
