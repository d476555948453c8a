package bench

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/xchat-go/markread/api"
)

// canned answers like X without a network, so that BenchmarkClientCPU measures what each contender
// itself costs per call: building the request, the http.Client's bookkeeping and reading the answer.
type canned struct{}

func (canned) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
	}
	h := http.Header{"Content-Type": {"application/json"}, "X-Rate-Limit-Limit": {"900"}, "X-Rate-Limit-Remaining": {"899"}, "X-Rate-Limit-Reset": {"1900000000"}}
	return &http.Response{StatusCode: 200, Header: h, ContentLength: int64(len(successBody)), Body: io.NopCloser(strings.NewReader(successBody)), Request: r}, nil
}

func BenchmarkClientCPU(b *testing.B) {
	hc := &http.Client{Transport: canned{}}
	b.Run("floor-nethttp", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := floor(context.Background(), hc, "http://127.0.0.1:1"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("generated", func(b *testing.B) {
		c := newGenerated(b, "http://127.0.0.1:1", hc)
		b.ReportAllocs()
		for b.Loop() {
			if err := generated(context.Background(), c); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("api-static-token", func(b *testing.B) {
		c := newClient(b, "http://127.0.0.1:1", hc, api.WithToken(token))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.MarkConversationRead(context.Background(), conversationID, sequenceID); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("api-token-source", func(b *testing.B) {
		c := newClient(b, "http://127.0.0.1:1", hc, api.WithTokenSource(refreshingSource()))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.MarkConversationRead(context.Background(), conversationID, sequenceID); err != nil {
				b.Fatal(err)
			}
		}
	})
}
