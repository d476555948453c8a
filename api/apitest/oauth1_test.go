package apitest

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dghubble/oauth1"
)

// X's documented example, "Creating a signature" (see /work/shared/X-API-NOTES.md). These are X's
// published sample credentials, not secrets.
const (
	xConsumerKey    = "xvz1evFS4wEEPTGEFPHBog"
	xConsumerSecret = "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw"
	xToken          = "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb"
	xTokenSecret    = "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE"
	xNonce          = "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg"
	xTimestamp      = 1318622958
)

// xExample is X's example request, signed with signature (percent-encoded into the header as X shows it).
func xExample(t *testing.T, host, signature string) (*http.Request, []byte) {
	t.Helper()
	body := "status=Hello%20Ladies%20%2B%20Gentlemen%2C%20a%20signed%20OAuth%20request%21"
	r, err := http.NewRequest(http.MethodPost, "https://"+host+"/1.1/statuses/update.json?include_entities=true", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Authorization", `OAuth oauth_consumer_key="`+xConsumerKey+`", oauth_nonce="`+xNonce+
		`", oauth_signature="`+url.QueryEscape(signature)+`", oauth_signature_method="HMAC-SHA1", oauth_timestamp="`+
		fmt.Sprint(xTimestamp)+`", oauth_token="`+xToken+`", oauth_version="1.0"`)
	return r, []byte(body)
}

// The fake's own signing reproduces X's documented example exactly, on today's host and on the old one.
func TestOAuth1SignatureOfXsExample(t *testing.T) {
	for host, want := range map[string]string{
		"api.x.com":       "Ls93hJiZbQ3akF3HF3x1Bz8/zU4=",
		"api.twitter.com": "hCtSmYh+iHYCEqBWrE7C7hYmtUk=",
	} {
		r, body := xExample(t, host, want)
		params, err := oauth1HeaderParams(r.Header.Get("Authorization"))
		if err != nil {
			t.Fatal(err)
		}
		base, err := oauth1BaseString(r, body, params)
		if err != nil {
			t.Fatal(err)
		}
		if got := base64.StdEncoding.EncodeToString(oauth1Sign(base, xConsumerSecret, xTokenSecret)); got != want {
			t.Errorf("%s: signature %s, want %s as X documents", host, got, want)
		}
	}
}

// The whole check accepts X's example at its own time, once: the nonce cannot be replayed.
func TestOAuth1CheckAcceptsXsExampleOnce(t *testing.T) {
	h := NewHandler(WithOAuth1(xConsumerKey, xConsumerSecret, xToken, xTokenSecret),
		WithClock(func() time.Time { return time.Unix(xTimestamp+60, 0) }))
	r, body := xExample(t, "api.x.com", "Ls93hJiZbQ3akF3HF3x1Bz8/zU4=")
	if user, err := h.checkOAuth1(r, body); err != nil || user != xToken {
		t.Fatalf("X's example: user %q, err %v; want the access token's user", user, err)
	}
	if _, err := h.checkOAuth1(r, body); err == nil {
		t.Error("the same request again was accepted: a replayed nonce")
	}
	// A changed body, query or host breaks the signature.
	for name, change := range map[string]func(*http.Request, []byte) []byte{
		"body": func(_ *http.Request, b []byte) []byte { return append(b, '!') },
		"query": func(r *http.Request, b []byte) []byte {
			r.URL.RawQuery = "include_entities=false"
			return b
		},
		"host": func(r *http.Request, b []byte) []byte {
			r.Host = "api.twitter.com"
			return b
		},
	} {
		h := NewHandler(WithOAuth1(xConsumerKey, xConsumerSecret, xToken, xTokenSecret),
			WithClock(func() time.Time { return time.Unix(xTimestamp, 0) }))
		r, body := xExample(t, "api.x.com", "Ls93hJiZbQ3akF3HF3x1Bz8/zU4=")
		if _, err := h.checkOAuth1(r, change(r, body)); err == nil {
			t.Errorf("a changed %s was accepted", name)
		}
	}
}

// Test credentials of an OAuth 1.0a user of the fake.
const (
	o1Key         = "apitest-consumer"
	o1Secret      = "apitest-consumer-secret"
	o1Token       = "123-apitest-oauth1-token"
	o1TokenSecret = "apitest-oauth1-token-secret"
)

// fixedNonce makes every request carry the same nonce, to replay one.
type fixedNonce string

func (n fixedNonce) Nonce() string { return string(n) }

// oauth1Client signs with the dghubble/oauth1 library, as api.WithOAuth1 does, so that the fake's check
// is held against an implementation it does not share.
func oauth1Client(key, secret, token, tokenSecret string, noncer oauth1.Noncer) *http.Client {
	conf := oauth1.NewConfig(key, secret)
	conf.Noncer = noncer
	return conf.Client(context.Background(), oauth1.NewToken(token, tokenSecret))
}

// markSigned marks conversation "1" read up to seq through client and returns the status.
func markSigned(t *testing.T, client *http.Client, base, seq string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+fmt.Sprintf(markPath, "1"), strings.NewReader(markBody(seq)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestOAuth1SignedRequestsAuthenticate(t *testing.T) {
	s := NewServer(WithOAuth1(o1Key, o1Secret, o1Token, o1TokenSecret), WithRateLimit(5, time.Hour))
	defer s.Close()
	client := oauth1Client(o1Key, o1Secret, o1Token, o1TokenSecret, nil)
	for _, seq := range []string{"4", "5"} {
		if status := markSigned(t, client, s.URL, seq); status != http.StatusOK {
			t.Fatalf("signed mark: got %d, want 200", status)
		}
	}
	if m := s.Marks(); len(m) != 2 || m[1].User != o1Token || m[1].Token != o1Token {
		t.Errorf("marks %d, the last for user %q; want 2, for the access token's user", len(m), m[len(m)-1].User)
	}
	if seq, _ := s.ReadState(o1Token, "1"); seq != "5" {
		t.Errorf("ReadState by the access token = %q, want 5", seq)
	}
	if rl := s.RateLimit(o1Token); rl.Remaining != 3 {
		t.Errorf("RateLimit(access token) remaining %d, want 3", rl.Remaining)
	}
	// The access token is no bearer token.
	if status := markWith(t, s, o1Token, "6"); status != http.StatusUnauthorized {
		t.Errorf("the OAuth 1.0a access token as a bearer token: got %d, want 401", status)
	}
}

func TestOAuth1Refusals(t *testing.T) {
	const otherKey, otherSecret, otherToken, otherTokenSecret = "other-consumer", "other-consumer-secret", "456-other-token", "other-token-secret"
	s := NewServer(WithOAuth1(o1Key, o1Secret, o1Token, o1TokenSecret), WithOAuth1(otherKey, otherSecret, otherToken, otherTokenSecret))
	defer s.Close()
	for name, client := range map[string]*http.Client{
		"wrong consumer secret":       oauth1Client(o1Key, "wrong", o1Token, o1TokenSecret, nil),
		"wrong token secret":          oauth1Client(o1Key, o1Secret, o1Token, "wrong", nil),
		"unknown consumer key":        oauth1Client("nobody", o1Secret, o1Token, o1TokenSecret, nil),
		"unknown token":               oauth1Client(o1Key, o1Secret, "789-nobody", o1TokenSecret, nil),
		"token of another consumer":   oauth1Client(o1Key, o1Secret, otherToken, otherTokenSecret, nil),
		"other consumer, other token": oauth1Client(otherKey, otherSecret, o1Token, o1TokenSecret, nil),
		"HMAC-SHA256": func() *http.Client {
			conf := oauth1.NewConfig(o1Key, o1Secret)
			conf.Signer = &oauth1.HMAC256Signer{ConsumerSecret: o1Secret}
			return conf.Client(context.Background(), oauth1.NewToken(o1Token, o1TokenSecret))
		}(),
	} {
		if status := markSigned(t, client, s.URL, "1"); status != http.StatusUnauthorized {
			t.Errorf("%s: got %d, want 401", name, status)
		}
	}
	// Both users work with their own credentials.
	if status := markSigned(t, oauth1Client(otherKey, otherSecret, otherToken, otherTokenSecret, nil), s.URL, "1"); status != http.StatusOK {
		t.Errorf("the second user: got %d, want 200", status)
	}
	if len(s.Marks()) != 1 {
		t.Errorf("%d marks, want 1", len(s.Marks()))
	}
}

func TestOAuth1NonceCannotBeReplayed(t *testing.T) {
	s := NewServer(WithOAuth1(o1Key, o1Secret, o1Token, o1TokenSecret))
	defer s.Close()
	replaying := oauth1Client(o1Key, o1Secret, o1Token, o1TokenSecret, fixedNonce("the-same-nonce"))
	if status := markSigned(t, replaying, s.URL, "1"); status != http.StatusOK {
		t.Fatalf("first use of the nonce: got %d, want 200", status)
	}
	if status := markSigned(t, replaying, s.URL, "2"); status != http.StatusUnauthorized {
		t.Errorf("the nonce again: got %d, want 401", status)
	}
	// Other requests in between do not make the server forget it.
	if status := markSigned(t, oauth1Client(o1Key, o1Secret, o1Token, o1TokenSecret, nil), s.URL, "1"); status != http.StatusOK {
		t.Fatalf("a fresh nonce: got %d, want 200", status)
	}
	if status := markSigned(t, replaying, s.URL, "3"); status != http.StatusUnauthorized {
		t.Errorf("the nonce once more, after another request: got %d, want 401", status)
	}
	if seq, _ := s.ReadState(o1Token, "1"); seq != "1" {
		t.Errorf("read state %q, want 1: the replay must change nothing", seq)
	}
}

// Timestamps more than 5 minutes from the server's clock are refused, either way. The client signs with
// the real clock; the server's is set off from it by a minute more or less than the limit, so that a
// slow machine cannot make the test flaky.
func TestOAuth1StaleTimestamps(t *testing.T) {
	for _, tt := range []struct {
		skew time.Duration
		want int
	}{
		{oauth1MaxSkew - time.Minute, http.StatusOK},
		{-(oauth1MaxSkew - time.Minute), http.StatusOK},
		{oauth1MaxSkew + time.Minute, http.StatusUnauthorized},
		{-(oauth1MaxSkew + time.Minute), http.StatusUnauthorized},
	} {
		s := NewServer(WithOAuth1(o1Key, o1Secret, o1Token, o1TokenSecret), WithClock(func() time.Time { return time.Now().Add(tt.skew) }))
		if status := markSigned(t, oauth1Client(o1Key, o1Secret, o1Token, o1TokenSecret, nil), s.URL, "1"); status != tt.want {
			t.Errorf("server clock %v off: got %d, want %d", tt.skew, status, tt.want)
		}
		s.Close()
	}
}

// The query and a form body are signed: changing either after signing is refused. A form body is no
// mark, so a correctly signed one passes authentication and meets the spec's 400 instead.
func TestOAuth1SignsQueryAndFormBody(t *testing.T) {
	s := NewServer(WithOAuth1(o1Key, o1Secret, o1Token, o1TokenSecret))
	defer s.Close()
	send := func(tamper func(*http.Request)) int {
		t.Helper()
		conf := oauth1.NewConfig(o1Key, o1Secret)
		ctx := context.WithValue(context.Background(), oauth1.HTTPClient, &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			tamper(r)
			return http.DefaultTransport.RoundTrip(r)
		})})
		req, err := http.NewRequest(http.MethodPost, s.URL+fmt.Sprintf(markPath, "1")+"?lang=en", strings.NewReader("seen_until_sequence_id=5"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := conf.Client(ctx, oauth1.NewToken(o1Token, o1TokenSecret)).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if status := send(func(*http.Request) {}); status != http.StatusBadRequest {
		t.Errorf("signed form body: got %d, want 400 (authenticated, then refused by the spec)", status)
	}
	if status := send(func(r *http.Request) { r.URL.RawQuery = "lang=fr" }); status != http.StatusUnauthorized {
		t.Errorf("query changed after signing: got %d, want 401", status)
	}
	if status := send(func(r *http.Request) {
		r.Body, r.ContentLength = http.NoBody, 0
		r.GetBody = nil
	}); status != http.StatusUnauthorized {
		t.Errorf("form body dropped after signing: got %d, want 401", status)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Malformed OAuth headers are refused, each otherwise correctly signed by the fake's own signer.
func TestOAuth1MalformedHeaders(t *testing.T) {
	clock := newClock()
	h := NewHandler(WithOAuth1(o1Key, o1Secret, o1Token, o1TokenSecret), WithClock(clock.Now))
	n := 0
	// header signs a mark request with params (oauth_signature left out) and renders the header with
	// extra appended as it is.
	header := func(params map[string]string, extra string) string {
		r, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1/2/chat/conversations/1/read", nil)
		base, err := oauth1BaseString(r, nil, params)
		if err != nil {
			t.Fatal(err)
		}
		sig := base64.StdEncoding.EncodeToString(oauth1Sign(base, o1Secret, o1TokenSecret))
		out := `OAuth oauth_signature="` + oauth1Encode(sig) + `"`
		for k, v := range params {
			out += `, ` + k + `="` + oauth1Encode(v) + `"`
		}
		return out + extra
	}
	good := func() map[string]string {
		n++
		return map[string]string{
			"oauth_consumer_key": o1Key, "oauth_token": o1Token, "oauth_signature_method": "HMAC-SHA1",
			"oauth_timestamp": fmt.Sprint(clock.Now().Unix()), "oauth_nonce": fmt.Sprint("nonce-", n), "oauth_version": "1.0",
		}
	}
	with := func(name, value string) map[string]string {
		p := good()
		if value == "" {
			delete(p, name)
		} else {
			p[name] = value
		}
		return p
	}
	status := func(authorization string) int {
		client := &http.Client{Transport: h.Transport()}
		req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1/2/chat/conversations/1/read", strings.NewReader(markBody("1")))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", authorization)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status(header(good(), "")); got != http.StatusOK {
		t.Fatalf("a well-formed header: got %d, want 200", got)
	}
	if got := status(header(with("oauth_version", ""), "")); got != http.StatusOK {
		t.Errorf("no oauth_version (optional): got %d, want 200", got)
	}
	if got := status(header(good(), `, realm="X"`)); got != http.StatusOK {
		t.Errorf("with a realm (not signed): got %d, want 200", got)
	}
	for name, authorization := range map[string]string{
		"oauth_version 2.0":       header(with("oauth_version", "2.0"), ""),
		"no nonce":                header(with("oauth_nonce", ""), ""),
		"no timestamp":            header(with("oauth_timestamp", ""), ""),
		"timestamp not a number":  header(with("oauth_timestamp", "soon"), ""),
		"huge timestamp":          header(with("oauth_timestamp", strings.Repeat("9", 40)), ""),
		"PLAINTEXT":               header(with("oauth_signature_method", "PLAINTEXT"), ""),
		"no signature method":     header(with("oauth_signature_method", ""), ""),
		"repeated parameter":      header(good(), `, oauth_token="`+o1Token+`"`),
		"parameter not of OAuth":  header(good(), `, status="hello"`),
		"value not quoted":        header(good(), `, oauth_callback=oob`),
		"signature not base64":    strings.Replace(header(good(), ""), `oauth_signature="`, `oauth_signature="%21`, 1),
		"no signature":            strings.Replace(header(good(), ""), `oauth_signature="`, `oauth_ignored="`, 1),
		"bad percent-encoding":    header(good(), `, oauth_callback="%zz"`),
		"the scheme alone":        "OAuth",
		"the scheme, then commas": "OAuth ,,",
	} {
		if got := status(authorization); got != http.StatusUnauthorized {
			t.Errorf("%s: got %d, want 401", name, got)
		}
	}
	if len(h.Marks()) != 3 {
		t.Errorf("%d marks, want 3", len(h.Marks()))
	}
}

// Through the in-process Transport, inside a synctest bubble, the client and the fake share the fake
// clock, and an https base URL is signed and checked as https.
func TestOAuth1ThroughTransportInASynctestBubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := NewHandler(WithOAuth1(o1Key, o1Secret, o1Token, o1TokenSecret))
		conf := oauth1.NewConfig(o1Key, o1Secret)
		ctx := context.WithValue(context.Background(), oauth1.HTTPClient, &http.Client{Transport: h.Transport()})
		client := conf.Client(ctx, oauth1.NewToken(o1Token, o1TokenSecret))
		if status := markSigned(t, client, "https://api.x.com", "9"); status != http.StatusOK {
			t.Fatalf("signed mark in a bubble: got %d, want 200", status)
		}
		time.Sleep(oauth1MaxSkew + time.Second) // fake time: the signer's clock moves with the server's
		if status := markSigned(t, client, "https://api.x.com", "10"); status != http.StatusOK {
			t.Fatalf("signed mark 5 minutes later: got %d, want 200", status)
		}
		if seq, _ := h.ReadState(o1Token, "1"); seq != "10" {
			t.Errorf("read state %q, want 10", seq)
		}
	})
}

func TestOAuth1OptionMisusePanics(t *testing.T) {
	for name, opts := range map[string][]Option{
		"empty consumer key":    {WithOAuth1("", o1Secret, o1Token, o1TokenSecret)},
		"empty consumer secret": {WithOAuth1(o1Key, "", o1Token, o1TokenSecret)},
		"empty token":           {WithOAuth1(o1Key, o1Secret, "", o1TokenSecret)},
		"empty token secret":    {WithOAuth1(o1Key, o1Secret, o1Token, "")},
		"token twice":           {WithOAuth1(o1Key, o1Secret, o1Token, o1TokenSecret), WithOAuth1("k2", "s2", o1Token, "t2")},
		"consumer, two secrets": {WithOAuth1(o1Key, o1Secret, o1Token, o1TokenSecret), WithOAuth1(o1Key, "s2", "t2", "ts2")},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil {
					t.Fatal("NewHandler did not panic")
				}
				for _, secret := range []string{o1Secret, o1TokenSecret, "s2", "ts2"} {
					if strings.Contains(fmt.Sprint(r), secret) {
						t.Error("the panic message shows a secret")
					}
				}
			}()
			NewHandler(opts...)
		})
	}
	// One consumer may serve several users.
	NewHandler(WithOAuth1(o1Key, o1Secret, o1Token, o1TokenSecret), WithOAuth1(o1Key, o1Secret, "t2", "ts2"))
}

func TestOAuth1BaseURI(t *testing.T) {
	for raw, want := range map[string]string{
		"http://Example.COM:80/2/chat/a%20b?x=1": "http://example.com/2/chat/a%20b",
		"https://API.x.com:443/1.1/x.json":       "https://api.x.com/1.1/x.json",
		"http://127.0.0.1:8080/p":                "http://127.0.0.1:8080/p",
		"https://h:80/p":                         "https://h:80/p",
		"http://h:443/p":                         "http://h:443/p",
		"https://[::1]:443/p":                    "https://[::1]/p",
		"http://[::1]:8080/p":                    "http://[::1]:8080/p",
	} {
		r, err := http.NewRequest(http.MethodGet, raw, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := oauth1BaseURI(r); got != want {
			t.Errorf("%s: base string URI %s, want %s", raw, got, want)
		}
	}
	// A request as the server receives it: no scheme in its URL; TLS decides.
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET /p?q=1 HTTP/1.1\r\nHost: 127.0.0.1:80\r\n\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	if got := oauth1BaseURI(r); got != "http://127.0.0.1/p" {
		t.Errorf("server request: base string URI %s, want http://127.0.0.1/p", got)
	}
	r.TLS = &tls.ConnectionState{}
	if got := oauth1BaseURI(r); got != "https://127.0.0.1:80/p" {
		t.Errorf("server request over TLS: base string URI %s, want https://127.0.0.1:80/p", got)
	}
}
