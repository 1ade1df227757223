package bench

import (
	"math"
	"os"
	"strings"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	tests := map[string]struct {
		xs   []float64
		want float64
	}{
		"The median of nothing is zero.":                   {nil, 0},
		"An odd count gives the middle value.":             {[]float64{9, 1, 5}, 5},
		"An even count gives the mean of the two middles.": {[]float64{4, 1, 3, 2}, 2.5},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Median(tt.xs); got != tt.want {
				t.Errorf("Median(%v) = %v, want %v", tt.xs, got, tt.want)
			}
		})
	}
}

func TestMedianLeavesItsInputInOrder(t *testing.T) {
	xs := []float64{3, 1, 2}
	Median(xs)
	if xs[0] != 3 || xs[1] != 1 || xs[2] != 2 {
		t.Errorf("Median reordered its input: %v", xs)
	}
}

func TestSpreadIsTheFarthestRunFromTheMedian(t *testing.T) {
	if got := Spread([]float64{100, 95, 110}); math.Abs(got-0.10) > 1e-9 {
		t.Errorf("Spread = %v, want 0.10", got)
	}
}

func TestQuantile(t *testing.T) {
	var sorted []time.Duration
	for i := 1; i <= 100; i++ {
		sorted = append(sorted, time.Duration(i)*time.Millisecond)
	}
	tests := map[string]struct {
		q    float64
		want time.Duration
	}{
		"The median of 1..100 ms is 50 ms by nearest rank.": {0.50, 50 * time.Millisecond},
		"The 99th percentile of 1..100 ms is 99 ms.":        {0.99, 99 * time.Millisecond},
		"The maximum is the 1-quantile.":                    {1, 100 * time.Millisecond},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Quantile(sorted, tt.q); got != tt.want {
				t.Errorf("Quantile(%v) = %s, want %s", tt.q, got, tt.want)
			}
		})
	}
	if got := Quantile(nil, 0.5); got != 0 {
		t.Errorf("Quantile of nothing = %s, want 0", got)
	}
}

const goTestOutput = `goos: linux
goarch: amd64
pkg: github.com/gracekeeper/gracekeeper/webhook
cpu: Intel(R) Xeon(R) CPU @ 2.20GHz
BenchmarkReview/pod-create/gracekeeper-2         	   10000	    100000 ns/op	   40000 B/op	     500 allocs/op
BenchmarkReview/pod-create/gracekeeper-2         	   10000	    120000 ns/op	   40010 B/op	     500 allocs/op
BenchmarkReview/pod-create/floor-2               	   20000	     80000 ns/op	   30000 B/op	     400 allocs/op
PASS
ok  	github.com/gracekeeper/gracekeeper/webhook	12.3s
pkg: github.com/gracekeeper/gracekeeper/policies
BenchmarkEvaluate/pod-create-2                   	  200000	      5000 ns/op	    2000 B/op	      30 allocs/op
BenchmarkReview/pod-create/gracekeeper-2         	   10000	     90000 ns/op	   40000 B/op	     500 allocs/op
ok  	github.com/gracekeeper/gracekeeper/policies	3.1s
`

func TestParseGoBenchGroupsRunsByPackageAndName(t *testing.T) {
	got, err := ParseGoBench(strings.NewReader(goTestOutput))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range got {
		names = append(names, b.Package+" "+b.Name)
	}
	want := []string{
		"github.com/gracekeeper/gracekeeper/webhook BenchmarkReview/pod-create/gracekeeper",
		"github.com/gracekeeper/gracekeeper/webhook BenchmarkReview/pod-create/floor",
		"github.com/gracekeeper/gracekeeper/policies BenchmarkEvaluate/pod-create",
		"github.com/gracekeeper/gracekeeper/policies BenchmarkReview/pod-create/gracekeeper",
	}
	if strings.Join(names, "\n") != strings.Join(want, "\n") {
		t.Fatalf("benchmarks:\n%s\nwant:\n%s", strings.Join(names, "\n"), strings.Join(want, "\n"))
	}
	gk := got[0]
	if n := len(gk.Runs["ns/op"]); n != 2 {
		t.Errorf("gracekeeper pod-create has %d runs, want 2", n)
	}
	if m := gk.Median("ns/op"); m != 110000 {
		t.Errorf("median ns/op = %v, want 110000", m)
	}
	if m := gk.Median("B/op"); m != 40005 {
		t.Errorf("median B/op = %v, want 40005", m)
	}
	if m := got[1].Median("allocs/op"); m != 400 {
		t.Errorf("floor median allocs/op = %v, want 400", m)
	}
}

func TestParseGoBenchRejectsAValueThatIsNotANumber(t *testing.T) {
	_, err := ParseGoBench(strings.NewReader("BenchmarkX-2 \t 100 \t fast ns/op\n"))
	if err == nil || !strings.Contains(err.Error(), `"fast"`) {
		t.Errorf("err = %v, want one naming the value", err)
	}
}

func TestPairedRatioComparesRunsTakenSideBySide(t *testing.T) {
	// The second round ran on a machine twice as slow: both sides doubled.
	if got := PairedRatio([]float64{110, 220, 115}, []float64{100, 200, 100}); math.Abs(got-1.1) > 1e-9 {
		t.Errorf("PairedRatio = %v, want 1.1", got)
	}
	if got := PairedRatio(nil, []float64{100}); got != 0 {
		t.Errorf("PairedRatio without pairs = %v, want 0", got)
	}
}

func TestCPUTimeAndPeakRSSOfThisProcess(t *testing.T) {
	before, err := CPUTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Spin until the kernel has counted at least two of its 10 ms ticks.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if now, _ := CPUTime(os.Getpid()); now-before >= 20*time.Millisecond {
			break
		}
	}
	after, err := CPUTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after-before < 20*time.Millisecond {
		t.Errorf("CPU time grew by %s while spinning, want at least 20ms", after-before)
	}
	rss, err := PeakRSS(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if rss < 1<<20 || rss > 1<<32 {
		t.Errorf("peak RSS of this test = %d bytes, want megabytes", rss)
	}
}
