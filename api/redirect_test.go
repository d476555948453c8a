package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

// TestARedirectThatDropsTheBodyIsAnError: 301, 302 and 303 would turn the POST into a bodiless GET; the
// answer to that GET must never count as the mark.
func TestARedirectThatDropsTheBodyIsAnError(t *testing.T) {
	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			var targetRequests int
			target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				targetRequests++
				reply(200, "application/json", successBody)(w, r)
			}))
			defer target.Close()
			location := strings.Replace(target.URL, "http://", "http://user:pw-"+testToken+"@", 1) + "/moved?key=query-secret"
			c := setup(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Location", location)
				w.WriteHeader(status)
			})
			res, err := c.MarkConversationRead(context.Background(), "1", "2")
			if res != nil || !errors.Is(err, ErrRedirect) {
				t.Fatalf("got %+v, %v; want ErrRedirect", res, err)
			}
			text := everyVerb(err)
			if !strings.Contains(err.Error(), fmt.Sprint(status)) || !strings.Contains(err.Error(), target.URL) {
				t.Errorf("err = %v; want the status and the target's origin", err)
			}
			if strings.Contains(text, "pw-") || strings.Contains(text, "query-secret") || strings.Contains(text, "/moved") || leaks(text, testToken) {
				t.Errorf("err = %v; shows more of the target than its origin", err)
			}
			if targetRequests != 0 {
				t.Errorf("the target got %d requests, want none", targetRequests)
			}
		})
	}
}

func TestSameOriginTemporaryRedirectKeepsTheMark(t *testing.T) {
	for _, status := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		var gotAuth, gotBody string
		mux := http.NewServeMux()
		mux.HandleFunc("/old/", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/new/"+strings.TrimPrefix(r.URL.Path, "/old/"), status)
		})
		mux.HandleFunc("POST /new/", func(w http.ResponseWriter, r *http.Request) {
			gotAuth = r.Header.Get("Authorization")
			b := new(strings.Builder)
			_, _ = fmt.Fprint(b, r.ContentLength)
			gotBody = b.String()
			reply(200, "application/json", successBody)(w, r)
		})
		srv := httptest.NewServer(mux)
		c, err := NewClient(WithBaseURL(srv.URL+"/old"), WithToken(testToken))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.MarkConversationRead(context.Background(), "1", "2"); err != nil {
			t.Errorf("%d: %v", status, err)
		}
		if gotAuth != "Bearer "+testToken || gotBody == "0" {
			t.Errorf("%d: the redirected request lost its token or body (content length %s)", status, gotBody)
		}
		srv.Close()
	}
}

// A 307 to another origin is refused: that origin's {"success":true} is never the mark, as X never saw it.
func TestCrossOriginTemporaryRedirectIsNotSuccess(t *testing.T) {
	var sawAuth atomic.Bool
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawAuth.Store(r.Header.Get("Authorization") != "")
		reply(200, "application/json", successBody)(w, r)
	}))
	defer other.Close()
	// Same host name, other port: another origin.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", other.URL+r.URL.Path)
		w.WriteHeader(http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	c, err := NewClient(WithBaseURL(srv.URL), WithToken(testToken))
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.MarkConversationRead(context.Background(), "1", "2")
	if err == nil && res.Success {
		t.Errorf("success reported from another origin that got no credentials (auth seen: %v)", sawAuth.Load())
	}
}

// TestCrossOriginRedirectIsRefused: a redirect to another host, or to the same host on another port,
// is refused: followed without the token it would be answered by a server that cannot mark anything for
// this user, and with the token it would hand the credential over.
func TestCrossOriginRedirectIsRefused(t *testing.T) {
	for _, name := range []string{"other host", "same host, other port"} {
		t.Run(name, func(t *testing.T) {
			target := newFaultServer(t, nil)
			targetURL, _ := url.Parse(target.URL)
			if name == "other host" {
				targetURL.Host = "localhost:" + targetURL.Port()
			}
			c := setup(t, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, targetURL.String()+r.URL.Path, http.StatusTemporaryRedirect)
			})
			_, err := c.MarkConversationRead(context.Background(), "1", "2")
			if !errors.Is(err, ErrRedirect) || !strings.Contains(err.Error(), targetURL.Host) {
				t.Fatalf("err = %v; want ErrRedirect naming %s", err, targetURL.Host)
			}
			if n := target.requests.Load(); n != 0 {
				t.Errorf("the redirect target got %d requests, want none", n)
			}
		})
	}
}

func TestSameOriginRedirectKeepsToken(t *testing.T) {
	var gotAuth atomic.Value
	mux := http.NewServeMux()
	mux.HandleFunc("/old/", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/new/"+strings.TrimPrefix(r.URL.Path, "/old/"), http.StatusPermanentRedirect)
	})
	mux.HandleFunc("/new/", func(w http.ResponseWriter, r *http.Request) {
		gotAuth.Store(r.Header.Get("Authorization"))
		reply(200, "application/json", successBody)(w, r)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c, err := NewClient(WithBaseURL(srv.URL+"/old"), WithToken(testToken))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.MarkConversationRead(context.Background(), "1", "2"); err != nil {
		t.Fatal(err)
	}
	if v, _ := gotAuth.Load().(string); v != "Bearer "+testToken {
		t.Error("a same-origin redirect lost the Authorization header")
	}
}
