package bench

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xchat-go/markread/api"
)

// BenchmarkMarkerMarkContention measures Mark called from 8 goroutines at once over 1 000 conversations,
// with the Marker's defaults and an X that confirms at once (instantX): the cost a bot pays per mark when
// its readers share one Marker. Sends happen in the background, as in a bot.
func BenchmarkMarkerMarkContention(b *testing.B) {
	const goroutines, conversations = 8, 1_000
	c, err := api.NewClient(api.WithBaseURL("http://127.0.0.1"), api.WithToken("contention-test-token"),
		api.WithHTTPClient(&http.Client{Transport: instantX{}}))
	if err != nil {
		b.Fatal(err)
	}
	m, err := api.NewMarker(c)
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, conversations)
	for i := range ids {
		ids[i] = workloadConversation(i)
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				// The sequence ID grows with i, so that most marks are above the pending one.
				if err := m.Mark(ids[i%conversations], strconv.FormatInt(i, 10)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := m.Close(ctx); err != nil {
		b.Fatalf("Close: %v", err)
	}
}
