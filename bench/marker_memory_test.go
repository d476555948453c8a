package bench

import (
	"context"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/xchat-go/markread/api"
)

// instantX answers every mark the way X confirms one, at once and in process, keeping nothing: the
// heap figures are the Marker's own.
type instantX struct{}

func (instantX) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_ = r.Body.Close()
	}
	const body = `{"data":{"success":true}}`
	return &http.Response{
		StatusCode:    http.StatusOK,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       r,
	}, nil
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC() // the second cycle frees what the first only found unreachable through finalizers
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestMarkerForgetsAMillionConversations marks a million distinct conversations on synctest's clock,
// checks that the Marker remembers every one of them for the retention and forgets them before twice that, and prints the heap
// before, while they are remembered, and after, and the bytes held per conversation (BENCHMARKS.md; make
// bench runs it). It takes about 17 s; under the race detector it would take minutes, so make test skips
// it and relies on the api package's TestMarkerForgetsIdleConversationsAfterTheRetention (10 000
// conversations, the same checks). With -short it marks 10 000.
func TestMarkerForgetsAMillionConversations(t *testing.T) {
	if raceEnabled {
		t.Skip("a million sends take minutes under the race detector; make bench runs this test")
	}
	n := 1_000_000
	if testing.Short() {
		n = 10_000
	}
	synctest.Test(t, func(t *testing.T) {
		c, err := api.NewClient(api.WithBaseURL("http://127.0.0.1"), api.WithToken("memory-test-token"),
			api.WithHTTPClient(&http.Client{Transport: instantX{}}))
		if err != nil {
			t.Fatal(err)
		}
		m, err := api.NewMarker(c) // the default retention, DefaultMarkRetention
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]string, n) // built before the first figure, so that they are not counted
		for i := range ids {
			ids[i] = strconv.Itoa(1_000_000_000 + i)
		}
		before := heapInUse()
		for _, id := range ids {
			if err := m.Mark(id, "1940387512345678901"); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		if err := m.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		confirmed := time.Now()
		s := m.Stats()
		if s.Tracked != n || s.Confirmed != uint64(n) || s.Pending != 0 {
			t.Fatalf("Stats = %+v, want %d tracked and confirmed", s, n)
		}
		tracking := heapInUse()

		// Remembered for at least the retention, forgotten before twice that.
		time.Sleep(api.DefaultMarkRetention)
		synctest.Wait()
		if s := m.Stats(); s.Tracked != n {
			t.Fatalf("Stats = %+v %v after the last confirmation, want %d tracked", s, time.Since(confirmed), n)
		}
		time.Sleep(api.DefaultMarkRetention)
		synctest.Wait()
		if s := m.Stats(); s.Tracked != 0 {
			t.Fatalf("Stats = %+v %v after the last confirmation, want nothing tracked", s, time.Since(confirmed))
		}
		after := heapInUse()
		runtime.KeepAlive(ids)
		perConversation := float64(int64(tracking)-int64(before)) / float64(n)
		t.Logf("%d conversations: heap %.1f MiB before marking, %.1f MiB while they are remembered (%.0f bytes each), %.1f MiB %v after the last confirmation, all forgotten",
			n, mib(before), mib(tracking), perConversation, mib(after), 2*api.DefaultMarkRetention)
		if err := m.Close(ctx); err != nil {
			t.Fatalf("Close: %v", err)
		}
	})
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
