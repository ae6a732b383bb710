// SPDX-License-Identifier: GPL-2.0-or-later

package discovery

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// BenchmarkFleet simulates a fleet of 50 equal compile servers, each with
// its own module cache, serving 10,000 requests whose scripts follow a
// Zipf popularity, while servers leave (and come back with their cache)
// along the way; each request goes to the first server the real ordering
// code gives it (every server answers). It reports cold compiles per
// distinct script and how the busiest server's cold compiles and requests
// compare with the mean, for blind (weighted random among equals, today)
// and rendezvous ordering.
//
//	go test -run '^$' -bench Fleet -benchtime 1x ./internal/discovery/
func BenchmarkFleet(b *testing.B) {
	for _, mode := range []string{"blind", "rendezvous"} {
		b.Run(mode, func(b *testing.B) {
			var r fleetResult
			for b.Loop() {
				r = simulateFleet(mode == "rendezvous")
			}
			b.ReportMetric(r.coldPerScript, "cold/script")
			b.ReportMetric(r.busiestCold, "maxcold/mean")
			b.ReportMetric(r.busiestLoad, "maxreq/mean")
			b.ReportMetric(r.hottest, "hottest-script-share")
			b.ReportMetric(r.distinct, "scripts")
			b.ReportMetric(r.busiestWork, "maxwork")
			b.ReportMetric(r.meanWork, "meanwork")
		})
	}
}

type fleetResult struct {
	coldPerScript, busiestCold, busiestLoad, hottest, distinct float64
	// Work counts a cache hit as 1 and a cold compile as hitsPerCompile.
	busiestWork, meanWork float64
}

// hitsPerCompile is what a cold compile costs in cache hits: seconds to
// minutes against a fraction of a second; 100 is a middling guess.
const hitsPerCompile = 100

const (
	fleetServers  = 50
	fleetRequests = 10000
	fleetScripts  = 5000 // the universe the Zipf draws from
	churnEvery    = 500  // requests between a server leaving or coming back
)

func simulateFleet(rendezvous bool) fleetResult {
	all, p := fleet(fleetServers, 0)
	all = slices.DeleteFunc(all, func(c Candidate) bool { return c.Addr.Is6() }) // one address each
	r := rand.New(rand.NewPCG(20, 16))
	zipf := rand.NewZipf(r, 1.1, 1, fleetScripts-1)
	p.IntN = rand.New(rand.NewPCG(1, 2)).IntN
	up := make([]bool, fleetServers)
	for i := range up {
		up[i] = true
	}
	cache := make([]map[uint64]bool, fleetServers)
	for i := range cache {
		cache[i] = map[uint64]bool{}
	}
	index := map[string]int{}
	for i, c := range all {
		index[c.Host] = i
	}
	cold, load := make([]float64, fleetServers), make([]float64, fleetServers)
	seen := map[uint64]int{}
	var down []int
	for n := range fleetRequests {
		if n > 0 && n%churnEvery == 0 {
			// Alternately one server leaves, and the longest gone comes
			// back (a restart: its cache on disk is kept).
			if (n/churnEvery)%2 == 1 || len(down) == 0 {
				i := r.IntN(fleetServers)
				for !up[i] {
					i = r.IntN(fleetServers)
				}
				up[i] = false
				down = append(down, i)
			} else {
				up[down[0]] = true
				down = down[1:]
			}
		}
		var online []Candidate
		for i, c := range all {
			if up[i] {
				online = append(online, c)
			}
		}
		script := zipf.Uint64()
		seen[script]++
		if rendezvous {
			key := sha256.Sum256(fmt.Appendf(nil, "script %d", script))
			p.Key = key[:]
		}
		use, _ := Select(online, nil, p, nil)
		s := index[use[0].Host]
		load[s]++
		if !cache[s][script] {
			cache[s][script] = true
			cold[s]++
		}
	}
	total, hot := 0.0, 0
	for _, c := range cold {
		total += c
	}
	for _, k := range seen {
		hot = max(hot, k)
	}
	mean := func(xs []float64) float64 {
		s := 0.0
		for _, x := range xs {
			s += x
		}
		return s / float64(len(xs))
	}
	work := make([]float64, fleetServers)
	for i := range work {
		work[i] = load[i] - cold[i] + hitsPerCompile*cold[i]
	}
	return fleetResult{
		distinct:      float64(len(seen)),
		busiestWork:   slices.Max(work),
		meanWork:      mean(work),
		coldPerScript: total / float64(len(seen)),
		busiestCold:   slices.Max(cold) / mean(cold),
		busiestLoad:   slices.Max(load) / mean(load),
		hottest:       float64(hot) / fleetRequests,
	}
}
