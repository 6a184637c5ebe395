package harness

import (
	"slices"
	"testing"
	"time"
)

// Interleaved calls small and large once per iteration of b.Loop, in
// alternating order (so that whatever else the machine does falls on both
// alike), and returns their latencies, small's first.
func Interleaved(b *testing.B, small, large func()) [2][]time.Duration {
	var lat [2][]time.Duration
	fns := [2]func(){small, large}
	i := 0
	for b.Loop() {
		for k := range 2 {
			j := k ^ (i & 1)
			t0 := time.Now()
			fns[j]()
			lat[j] = append(lat[j], time.Since(t0))
		}
		i++
	}
	b.StopTimer()
	b.ReportMetric(0, "ns/op") // the pair's time says nothing; the medians do
	return lat
}

// ReportMedians reports the median latency of small and of large (µs) and
// the ratio large/small of the medians, their names prefixed.
func ReportMedians(b *testing.B, prefix string, lat [2][]time.Duration) {
	med := func(xs []time.Duration) float64 {
		slices.Sort(xs)
		return float64(xs[len(xs)/2].Nanoseconds()) / 1e3
	}
	s, l := med(lat[0]), med(lat[1])
	b.ReportMetric(s, prefix+"small-p50-µs")
	b.ReportMetric(l, prefix+"large-p50-µs")
	b.ReportMetric(l/s, prefix+"large/small")
}
