package bench

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Median is the middle of xs, or the mean of the two middle values; 0 for
// none. xs is not reordered.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	mid := len(s) / 2
	if len(s)%2 == 1 {
		return s[mid]
	}
	return (s[mid-1] + s[mid]) / 2
}

// Spread is the largest distance of xs from their median, relative to it:
// 0.03 means every run was within 3% of the median.
func Spread(xs []float64) float64 {
	m := Median(xs)
	if m == 0 {
		return 0
	}
	var most float64
	for _, x := range xs {
		most = max(most, abs(x-m)/m)
	}
	return most
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// Quantile is the q-quantile (0 < q <= 1) of sorted latencies, by nearest
// rank: the smallest latency that at least q of them do not exceed.
func Quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

// GoBenchmark is every run of one benchmark in `go test -bench` output.
type GoBenchmark struct {
	// Package is the import path of the benchmark's package.
	Package string
	// Name is the benchmark's name without its GOMAXPROCS suffix, e.g.
	// "BenchmarkReview/pod-create/gracekeeper".
	Name string
	// Runs holds each run's values by unit: "ns/op", "B/op", "allocs/op" and
	// any the benchmark reports itself.
	Runs map[string][]float64
}

// Median is the median of the runs in unit.
func (b *GoBenchmark) Median(unit string) float64 { return Median(b.Runs[unit]) }

var procsSuffix = regexp.MustCompile(`-\d+$`)

// ParseGoBench reads the output of `go test -bench` and returns the
// benchmarks in the order they first appear.
func ParseGoBench(r io.Reader) ([]*GoBenchmark, error) {
	var (
		pkg     string
		order   []*GoBenchmark
		byKey   = map[string]*GoBenchmark{}
		scanner = bufio.NewScanner(r)
	)
	for scanner.Scan() {
		line := scanner.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		fields := strings.Fields(line)
		// name, iterations, then value-unit pairs.
		if len(fields) < 4 || len(fields)%2 != 0 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		if _, err := strconv.ParseInt(fields[1], 10, 64); err != nil {
			continue
		}
		name := procsSuffix.ReplaceAllString(fields[0], "")
		key := pkg + " " + name
		b := byKey[key]
		if b == nil {
			b = &GoBenchmark{Package: pkg, Name: name, Runs: map[string][]float64{}}
			byKey[key] = b
			order = append(order, b)
		}
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				return nil, fmt.Errorf("benchmark line %q: value %q: %w", line, fields[i], err)
			}
			b.Runs[fields[i+1]] = append(b.Runs[fields[i+1]], v)
		}
	}
	if err := scanner.Err(); err != nil {
		return nil, fmt.Errorf("read benchmark output: %w", err)
	}
	return order, nil
}

// PeakRSS is the peak resident set size (VmHWM) of a running process, in
// bytes, from /proc (Linux only).
func PeakRSS(pid int) (int64, error) {
	path := fmt.Sprintf("/proc/%d/status", pid)
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read peak RSS: %w", err)
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s: VmHWM %q: %w", path, strings.TrimSpace(v), err)
			}
			return kib << 10, nil
		}
	}
	return 0, fmt.Errorf("%s has no VmHWM line", path)
}

// userHZ is the unit of the CPU times in /proc/PID/stat: 100 per second on
// every Linux architecture Go supports.
const userHZ = 100

// CPUTime is the CPU time (user and system) a running process has used so
// far, from /proc (Linux only), in steps of 10 ms.
func CPUTime(pid int) (time.Duration, error) {
	path := fmt.Sprintf("/proc/%d/stat", pid)
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read CPU time: %w", err)
	}
	// The command name, in parentheses, may hold spaces: count from after it.
	end := strings.LastIndexByte(string(data), ')')
	fields := strings.Fields(string(data)[end+1:])
	// utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
	if end < 0 || len(fields) < 13 {
		return 0, fmt.Errorf("%s: unexpected format", path)
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: CPU time %q: %w", path, f, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// PairedRatio is the median, over runs, of a's figure over b's, run i of
// one against run i of the other. When runs alternate between a and b, as
// rounds of `go test -count 1` do, each pair was measured seconds apart,
// so a slow spell of a shared machine cancels out of the ratio. It is 0
// when there are no pairs.
func PairedRatio(a, b []float64) float64 { return Median(PairedRatios(a, b)) }

// PairedRatios are a[i]/b[i], pair by pair, leaving out the pairs whose b
// is 0.
func PairedRatios(a, b []float64) []float64 {
	ratios := make([]float64, 0, min(len(a), len(b)))
	for i := range min(len(a), len(b)) {
		if b[i] != 0 {
			ratios = append(ratios, a[i]/b[i])
		}
	}
	return ratios
}
