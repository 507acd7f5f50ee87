package bench

// stats.go turns samples into the figures the results report.

import (
	"slices"
	"time"
)

// percentile is the p-th percentile (0 < p <= 100) of sorted samples, by the
// nearest-rank method; 0 when there are none.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

// median is the middle of xs (the mean of the middle two for an even count).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// latencies summarises samples, which it sorts.
func latencies(samples []time.Duration) (p50, p99, maxMS float64) {
	slices.Sort(samples)
	if len(samples) == 0 {
		return 0, 0, 0
	}
	return ms(percentile(samples, 50)), ms(percentile(samples, 99)), ms(samples[len(samples)-1])
}

// mergeRounds groups the rounds' figures by key, in the order the keys first
// appear, and merges each group into one figure.
func mergeRounds[T any, K comparable](rounds []T, key func(T) K, merge func([]T) T) []T {
	var order []K
	groups := map[K][]T{}
	for _, f := range rounds {
		k := key(f)
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], f)
	}
	merged := make([]T, len(order))
	for i, k := range order {
		merged[i] = merge(groups[k])
	}
	return merged
}

// collect is value of each of fs.
func collect[T any](fs []T, value func(T) float64) []float64 {
	xs := make([]float64, len(fs))
	for i, f := range fs {
		xs[i] = value(f)
	}
	return xs
}
