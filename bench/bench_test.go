package bench

import (
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/xchat-go/markread/api"
	"github.com/xchat-go/markread/gen"
)

const (
	token          = "bench-access-token-0123456789abcdef"
	conversationID = "1587411342381740032-783214"
	sequenceID     = "1940387512345678901"
	successBody    = `{"data":{"success":true}}`
)

// newServer answers every mark the way X does, with its rate-limit headers, after reading the body.
func newServer(b *testing.B) *httptest.Server {
	b.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		h := w.Header()
		h["Content-Type"] = []string{"application/json; charset=utf-8"}
		h["X-Rate-Limit-Limit"] = []string{"900"}
		h["X-Rate-Limit-Remaining"] = []string{"899"}
		h["X-Rate-Limit-Reset"] = []string{"1900000000"}
		_, _ = io.WriteString(w, successBody)
	}))
	b.Cleanup(srv.Close)
	return srv
}

// newHTTPClient gives each contender the same transport settings, with enough idle connections for
// RunParallel.
func newHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	return &http.Client{Transport: t, Timeout: 30 * time.Second}
}

// floor is the least a hand-written client does: the same request, the body read and its success checked.
func floor(ctx context.Context, hc *http.Client, base string) error {
	body := `{"seen_until_sequence_id":"` + sequenceID + `"}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/2/chat/conversations/"+conversationID+"/read", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("User-Agent", "markread-go/"+api.Version)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var payload struct {
		Data struct {
			Success bool `json:"success"`
		} `json:"data"`
	}
	if err := json.Unmarshal(data, &payload); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !payload.Data.Success {
		return errNotMarked
	}
	return nil
}

var errNotMarked = &api.APIError{StatusCode: 0}

func generated(ctx context.Context, c *gen.ClientWithResponses) error {
	resp, err := c.MarkChatConversationReadWithResponse(ctx, conversationID,
		gen.MarkChatConversationReadJSONRequestBody{SeenUntilSequenceID: sequenceID})
	if err != nil {
		return err
	}
	if resp.JSON200 == nil || resp.JSON200.Data == nil || !resp.JSON200.Data.Success {
		return errNotMarked
	}
	return nil
}

func newGenerated(b *testing.B, base string, hc *http.Client) *gen.ClientWithResponses {
	b.Helper()
	ts := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token})
	c, err := gen.NewClientWithResponses(base, gen.WithHTTPClient(hc),
		gen.WithRequestEditorFn(api.AuthEditor(ts)),
		gen.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
			r.Header.Set("User-Agent", "markread-go/"+api.Version)
			return nil
		}))
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func newClient(b *testing.B, base string, hc *http.Client, auth api.Option) *api.Client {
	b.Helper()
	c, err := api.NewClient(api.WithBaseURL(base), auth, api.WithHTTPClient(hc))
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// refreshingSource is what a bot uses: x/oauth2's caching source over a token that is still fresh.
func refreshingSource() oauth2.TokenSource {
	conf := &oauth2.Config{Endpoint: oauth2.Endpoint{TokenURL: "http://127.0.0.1:1/unused"}}
	return conf.TokenSource(context.Background(), &oauth2.Token{AccessToken: token, TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)})
}

func BenchmarkMarkRead(b *testing.B) {
	srv := newServer(b)
	ctx := context.Background()
	contenders := []struct {
		name string
		call func(b *testing.B, hc *http.Client) func() error
	}{
		{"floor-nethttp", func(b *testing.B, hc *http.Client) func() error {
			return func() error { return floor(ctx, hc, srv.URL) }
		}},
		{"generated", func(b *testing.B, hc *http.Client) func() error {
			c := newGenerated(b, srv.URL, hc)
			return func() error { return generated(ctx, c) }
		}},
		{"api-static-token", func(b *testing.B, hc *http.Client) func() error {
			c := newClient(b, srv.URL, hc, api.WithToken(token))
			return func() error { _, err := c.MarkConversationRead(ctx, conversationID, sequenceID); return err }
		}},
		{"api-token-source", func(b *testing.B, hc *http.Client) func() error {
			c := newClient(b, srv.URL, hc, api.WithTokenSource(refreshingSource()))
			return func() error { _, err := c.MarkConversationRead(ctx, conversationID, sequenceID); return err }
		}},
	}
	// Each sub-benchmark starts from the same state: its own transport, no connection left open by the
	// one before (idle connections and their buffers would otherwise tax whoever runs later), a fresh GC.
	fresh := func(b *testing.B) *http.Client {
		hc := newHTTPClient()
		b.Cleanup(func() {
			hc.CloseIdleConnections()
			srv.CloseClientConnections()
		})
		runtime.GC()
		return hc
	}
	// A different order on every run (go test -count), so that no contender always runs first or last.
	rand.Shuffle(len(contenders), func(i, j int) { contenders[i], contenders[j] = contenders[j], contenders[i] })
	for _, ct := range contenders {
		b.Run(ct.name, func(b *testing.B) {
			call := ct.call(b, fresh(b))
			b.ReportAllocs()
			for b.Loop() {
				if err := call(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	for _, ct := range contenders {
		b.Run(ct.name+"-parallel", func(b *testing.B) {
			call := ct.call(b, fresh(b))
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := call(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

var xPattern = regexp.MustCompile(`^([0-9]{1,19}|[0-9]{1,19}-[0-9]{1,19}|g[0-9]{1,19})$`)

func BenchmarkValidateConversationID(b *testing.B) {
	ids := []struct{ name, id string }{
		{"recipient", "1587411342381740032"},
		{"legacy", "1587411342381740032-783214"},
		{"group", "g1940387460021112832"},
		{"invalid", "1587411342381740032-78321/"},
	}
	for _, tc := range ids {
		b.Run("api/"+tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = api.ValidateConversationID(tc.id)
			}
		})
		b.Run("regexp/"+tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = xPattern.MatchString(tc.id)
			}
		})
	}
}
