package api

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// R1: extremes of every input, exhaustively combined.
func TestAttackDecideExtremes(t *testing.T) {
	durs := []time.Duration{0, 1, time.Millisecond, time.Second, math.MaxInt64 / 2, math.MaxInt64/2 + 1, math.MaxInt64 - 1, math.MaxInt64}
	attempts := []int{1, 2, 62, 63, 64, 65, 1000, math.MaxInt - 1, math.MaxInt}
	statuses := []int{0, 200, 301, 400, 429, 500, 503, 599, 600, 999}
	now := time.Unix(1e9, 0)
	moments := []time.Time{{}, now.Add(-time.Hour), now, now.Add(1), now.Add(time.Second), now.Add(365 * 24 * time.Hour), time.Unix(253402300799, 0)}
	errs := []error{nil, errors.New("x"), errNotRetryable{errors.New("y")}}
	jitters := []float64{0, 0.5, math.Nextafter(1, 0)}
	for _, bmin := range durs[1:] {
		for _, bmax := range durs {
			if bmax < bmin {
				continue
			}
			for _, mrw := range durs {
				for _, maxRetries := range []int{0, 3, math.MaxInt} {
					p := retryPolicy{maxRetries: maxRetries, maxRateLimitWait: mrw, backoffMin: bmin, backoffMax: bmax}
					for _, a := range attempts {
						for _, st := range statuses {
							for _, ra := range moments {
								for _, tl := range []time.Duration{math.MinInt64, -1, 0, time.Second, noDeadline} {
									for _, e := range errs {
										for _, j := range jitters {
											r := attemptResult{attempt: a, status: st, err: e, resumeAt: ra, retryAfter: ra, now: now, timeLeft: tl}
											w, ok := p.decide(r, j)
											if w < 0 || (ok && (w > max(bmax, mrw) || w >= tl)) || (!ok && w != 0) {
												t.Fatalf("decide(%+v, %+v, %v) = %v, %v", p, r, j, w, ok)
											}
										}
									}
								}
							}
						}
					}
				}
			}
		}
	}
}

// R2: random, over the whole range.
func TestAttackDecideRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Unix(rng.Int64N(1<<40), 0)
	for i := 0; i < 200000; i++ {
		bmin := time.Duration(rng.Int64N(math.MaxInt64-1) + 1)
		bmax := bmin + time.Duration(rng.Int64N(math.MaxInt64-int64(bmin)+1))
		p := retryPolicy{maxRetries: rng.IntN(math.MaxInt), maxRateLimitWait: time.Duration(rng.Int64()), backoffMin: bmin, backoffMax: bmax}
		r := attemptResult{attempt: rng.IntN(math.MaxInt) + 1, status: []int{0, 429, 503, 500}[rng.IntN(4)], now: now,
			resumeAt: now.Add(time.Duration(rng.Int64() - rng.Int64())), retryAfter: now.Add(time.Duration(rng.Int64() - rng.Int64())), timeLeft: time.Duration(rng.Int64())}
		w, ok := p.decide(r, rng.Float64())
		if w < 0 || (ok && (w > max(bmax, p.maxRateLimitWait) || w >= r.timeLeft)) {
			t.Fatalf("decide(%+v, %+v) = %v, %v", p, r, w, ok)
		}
	}
}
