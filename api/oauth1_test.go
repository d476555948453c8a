package api

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dghubble/oauth1"

	"github.com/xchat-go/markread/api/apitest"
)

// X's documented example of creating an OAuth 1.0a signature (see ../shared/X-API-NOTES.md).
const (
	xExampleConsumerKey    = "xvz1evFS4wEEPTGEFPHBog"
	xExampleConsumerSecret = "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw"
	xExampleToken          = "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb"
	xExampleTokenSecret    = "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE"
	xExampleNonce          = "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg"
	xExampleTimestamp      = 1318622958
	xExampleSignature      = "Ls93hJiZbQ3akF3HF3x1Bz8/zU4="
)

type fixedNonce string

func (n fixedNonce) Nonce() string { return string(n) }

// TestOAuth1SignsXsDocumentedExample signs X's example request, at its timestamp (synctest's clock moved
// there) with its nonce, through the signer WithOAuth1 uses, and gets X's signature.
func TestOAuth1SignsXsDocumentedExample(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		time.Sleep(time.Until(time.Unix(xExampleTimestamp, 0)))
		config := oauth1.NewConfig(xExampleConsumerKey, xExampleConsumerSecret)
		config.Noncer = fixedNonce(xExampleNonce)
		sign := oauth1Signer(config, oauth1.NewToken(xExampleToken, xExampleTokenSecret))

		body := url.Values{"status": {"Hello Ladies + Gentlemen, a signed OAuth request!"}}.Encode()
		req, err := http.NewRequest(http.MethodPost, "https://api.x.com/1.1/statuses/update.json?include_entities=true", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if _, err := sign(req); err != nil {
			t.Fatal(err)
		}
		params := oauthParams(t, req.Header.Get("Authorization"))
		if got := params.Get("oauth_signature"); got != xExampleSignature {
			t.Errorf("oauth_signature = %q, want X's %q", got, xExampleSignature)
		}
		for name, want := range map[string]string{
			"oauth_consumer_key": xExampleConsumerKey, "oauth_token": xExampleToken, "oauth_nonce": xExampleNonce,
			"oauth_timestamp": "1318622958", "oauth_signature_method": "HMAC-SHA1", "oauth_version": "1.0",
		} {
			if got := params.Get(name); got != want {
				t.Errorf("%s = %q, want %q", name, got, want)
			}
		}
	})
}

// oauthParams parses an `OAuth k="v", …` Authorization header.
func oauthParams(t *testing.T, header string) url.Values {
	t.Helper()
	rest, ok := strings.CutPrefix(header, "OAuth ")
	if !ok {
		t.Fatalf("Authorization is not OAuth 1.0a: %.10q…", header)
	}
	params := url.Values{}
	for pair := range strings.SplitSeq(rest, ", ") {
		key, quoted, _ := strings.Cut(pair, "=")
		value, err := url.PathUnescape(strings.Trim(quoted, `"`))
		if err != nil {
			t.Fatalf("parameter %s does not decode: %v", key, err)
		}
		params.Set(key, value)
	}
	return params
}

// TestOAuth1SignsEveryAttemptAfresh: each attempt, retries included, carries its own nonce and
// timestamp, and a JSON body stays out of the signature, so X can check every one.
func TestOAuth1SignsEveryAttemptAfresh(t *testing.T) {
	var mu sync.Mutex
	var seen []url.Values
	c := setup(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, oauthParams(t, r.Header.Get("Authorization")))
		attempt := len(seen)
		mu.Unlock()
		if attempt < 3 {
			reply(503, "application/problem+json", `{"title":"Service Unavailable","type":"about:blank"}`)(w, r)
			return
		}
		reply(200, "application/json", successBody)(w, r)
	}, WithOAuth1(xExampleConsumerKey, xExampleConsumerSecret, xExampleToken, xExampleTokenSecret))
	res, err := c.MarkConversationRead(context.Background(), "1", "2")
	if err != nil || res.Attempts != 3 {
		t.Fatalf("got %+v, %v; want success on the third attempt", res, err)
	}
	nonces := map[string]bool{}
	for i, params := range seen {
		if params.Get("oauth_consumer_key") != xExampleConsumerKey || params.Get("oauth_token") != xExampleToken {
			t.Errorf("attempt %d is not signed with the caller's consumer key and token", i+1)
		}
		if params.Get("oauth_signature") == "" || params.Get("oauth_timestamp") == "" {
			t.Errorf("attempt %d has no signature or timestamp", i+1)
		}
		if params.Has("oauth_body_hash") {
			t.Errorf("attempt %d signs the JSON body", i+1)
		}
		nonces[params.Get("oauth_nonce")] = true
	}
	if len(nonces) != len(seen) {
		t.Errorf("%d attempts used %d nonces; want a fresh one each", len(seen), len(nonces))
	}
}

// TestOAuth1SecretsHaveNoRouteOut: a server that echoes the Authorization header and every credential,
// in the body, the headers and the problems, gets none of the four back to the caller.
func TestOAuth1SecretsHaveNoRouteOut(t *testing.T) {
	secrets := []string{xExampleConsumerKey, xExampleConsumerSecret, xExampleToken, xExampleTokenSecret}
	echo := func(r *http.Request) string {
		return escapeJSON(r.Header.Get("Authorization") + " " + strings.Join(secrets, " "))
	}
	for _, status := range []int{200, 401} {
		c := setup(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Echo", r.Header.Get("Authorization"))
			body := `{"title":"Unauthorized","type":"about:blank","status":401,"detail":"` + echo(r) + `"}`
			if status == 200 {
				body = `{"data":{"success":true},"errors":[{"title":"t","type":"about:blank","detail":"` + echo(r) + `"}]}`
			}
			reply(status, "application/json", body)(w, r)
		}, WithOAuth1(xExampleConsumerKey, xExampleConsumerSecret, xExampleToken, xExampleTokenSecret))
		res, err := c.MarkConversationRead(context.Background(), "1", "2")
		text := everyVerb(res) + everyVerb(err) + everyVerb(c) + everyVerb(*c)
		if res != nil {
			text += everyVerb(res.Header) + everyVerb(res.Problems)
		}
		for _, secret := range secrets {
			if leaks(text, secret) {
				t.Errorf("HTTP %d: a credential of WithOAuth1 came back to the caller", status)
			}
		}
	}
}

func TestWithOAuth1RefusesBadCredentialsWithoutShowingThem(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values [4]string
		want   string
	}{
		{"empty consumer key", [4]string{"", "s9", "t9", "ts9"}, "empty consumer key"},
		{"empty token secret", [4]string{"k9", "s9", "t9", ""}, "empty access token secret"},
		{"newline in secret", [4]string{"k9", "s9Q7\n", "t9", "ts9"}, "the consumer secret has characters"},
		{"quote in token", [4]string{"k9", "s9", `"t9Q7"`, "ts9"}, "the access token has characters"},
	} {
		_, err := NewClient(WithOAuth1(tc.values[0], tc.values[1], tc.values[2], tc.values[3]))
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: err = %v; want one line saying %q", tc.name, err, tc.want)
			continue
		}
		for _, v := range tc.values {
			if v != "" && strings.Contains(err.Error(), strings.Trim(v, "\n\"")) {
				t.Errorf("%s: the error shows the credential", tc.name)
			}
		}
	}
}

// RFC 5849 §3.4.1.2 leaves only the scheme's default port out of the signature base string URI;
// dghubble/oauth1 leaves out :80 and :443 whatever the scheme, and keeps :80 of an IPv6 literal. So a
// base URL's explicit default port is dropped (the same destination), and NewClient refuses a port
// that is the other scheme's default, which X (and apitest, an RFC 5849 twin) would refuse on every
// request with a 401 that says nothing about why. The order of the options does not matter.
func TestWithOAuth1SignsTheBaseURIRFC5849SaysForEveryPort(t *testing.T) {
	const key, secret, token, tokenSecret = "port-consumer-key-0123", "port-consumer-secret-0123", "port-access-token-0123", "port-access-secret-0123"
	for _, c := range []struct {
		base    string
		refused string // in NewClient's error; "" when the base URL is used
	}{
		{"http://127.0.0.1:80", ""},
		{"https://api.x.com:443", ""},
		{"http://[::1]:80", ""},
		{"http://[::1]:443", ""}, // both keep the port of an IPv6 literal
		{"http://127.0.0.1:0080", ""},
		{"http://localhost:", ""},
		{"http://127.0.0.1:8080", ""},
		{"https://api.x.com:8443", ""},
		{"http://127.0.0.1:443", "the base URL's port 443 is https's default, not http's"},
		{"https://api.x.com:80", "the base URL's port 80 is http's default, not https's"},
		{"http://localhost:0443", "port 443 is https's default"},
	} {
		t.Run(c.base, func(t *testing.T) {
			fake := apitest.NewHandler(apitest.WithOAuth1(key, secret, token, tokenSecret))
			transport := WithHTTPClient(&http.Client{Transport: fake.Transport()})
			for _, order := range [][]Option{
				{WithBaseURL(c.base), WithOAuth1(key, secret, token, tokenSecret), transport},
				{WithOAuth1(key, secret, token, tokenSecret), WithBaseURL(c.base), transport},
			} {
				client, err := NewClient(order...)
				if c.refused != "" {
					if err == nil || !strings.Contains(err.Error(), c.refused) {
						t.Errorf("NewClient: err = %v, want one saying %q", err, c.refused)
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a hang guard only
				defer cancel()
				if _, err := client.MarkConversationRead(ctx, "1-2", "5"); err != nil {
					t.Errorf("the fake X (RFC 5849) refuses the signature: %v", err)
				}
			}
		})
	}
	// Bearer tokens sign nothing: any port goes, also when WithToken replaces WithOAuth1.
	if _, err := NewClient(WithBaseURL("http://127.0.0.1:443"), WithOAuth1(key, secret, token, tokenSecret), WithToken("t0123")); err != nil {
		t.Errorf("WithToken after WithOAuth1: %v", err)
	}
}
