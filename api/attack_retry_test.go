package api

import (
	"errors"
	"math"
	"testing"
	"time"
)

// R1: extremes of every input, exhaustively combined.
func TestAttackDecideExtremes(t *testing.T) {
	durs := []time.Duration{0, 1, time.Second, math.MaxInt64/2 + 1, math.MaxInt64}
	attempts := []int{1, 2, 63, 64, 65, math.MaxInt}
	statuses := []int{0, 200, 400, 429, 500, 503, 600}
	now := time.Unix(1e9, 0)
	moments := []time.Time{{}, now.Add(-time.Hour), now, now.Add(1), now.Add(time.Second), now.Add(365 * 24 * time.Hour), time.Unix(253402300799, 0)}
	errs := []error{nil, errNotRetryable{errors.New("y")}}
	jitters := []float64{0, math.Nextafter(1, 0)}
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
								for _, tl := range []time.Duration{math.MinInt64, 0, time.Second, noDeadline} {
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
