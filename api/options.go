package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/xchat-go/markread/internal/loopback"
)

// Option configures a Client; NewClient reports a bad value as an error naming the option.
type Option func(*Client) error

// Client defaults.
const (
	DefaultBaseURL          = "https://api.x.com" // spec/openapi.yaml's server; a test compares the two
	DefaultMaxRetries       = 3                   // so a call makes at most 4 attempts
	DefaultMaxRateLimitWait = 10 * time.Second    // the longest a call waits out a 429 by itself
	DefaultMaxResponseBytes = 64 << 10            // X's answers are well under 1 KiB
	DefaultTimeout          = 30 * time.Second    // per attempt, for the default HTTP client
	defaultBackoffMin       = 250 * time.Millisecond
	defaultBackoffMax       = 8 * time.Second
)

// WithBaseURL sets the base URL (default DefaultBaseURL): https, or http on a loopback host; a path
// prefix is kept.
func WithBaseURL(rawURL string) Option {
	return func(c *Client) error {
		base, err := parseBaseURL(rawURL)
		if err != nil {
			return fmt.Errorf("WithBaseURL: %w", err)
		}
		c.baseURL = base
		return nil
	}
}

func parseBaseURL(rawURL string) (string, error) {
	if rawURL == "" {
		return "", errors.New("empty base URL")
	}
	// The errors name what is wrong and never quote the input: a URL can carry a password or a
	// credential in its user info, query or fragment, or in text that only looks like a host.
	u, err := url.Parse(rawURL)
	switch {
	case err != nil:
		return "", errors.New("the base URL does not parse as a URL; want e.g. " + DefaultBaseURL)
	case u.User != nil || strings.Contains(u.Opaque, "@"):
		return "", errors.New("the base URL must not carry user info; authenticate with WithToken, WithTokenSource or WithOAuth1")
	case u.RawQuery != "" || u.ForceQuery:
		return "", errors.New("the base URL must not carry a query")
	case u.Fragment != "" || strings.Contains(rawURL, "#"):
		return "", errors.New("the base URL must not carry a fragment")
	case u.Scheme == "":
		return "", errors.New("the base URL has no scheme; want e.g. " + DefaultBaseURL)
	case u.Scheme != "https" && u.Scheme != "http":
		return "", errors.New("the base URL's scheme must be https (http only for a loopback host)")
	case u.Host == "":
		return "", errors.New("the base URL has no host; want e.g. " + DefaultBaseURL)
	case u.Scheme == "http" && !loopback.Host(u.Hostname()):
		return "", errors.New("the base URL must use https unless its host is loopback (127.0.0.0/8, ::1, localhost)")
	}
	// The generated request builder resolves "./2/chat/…" against the base, which keeps the prefix only
	// when the base ends in a slash.
	u.Path = strings.TrimRight(u.Path, "/") + "/"
	if u.RawPath != "" { // keep escapes such as %2F as given
		u.RawPath = strings.TrimRight(u.RawPath, "/") + "/"
	}
	return u.String(), nil
}

// WithHTTPClient sets the HTTP client; the Client adds a redirect policy that keeps credentials on origin.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) error {
		if hc == nil {
			return errors.New("WithHTTPClient: nil *http.Client")
		}
		c.httpClient = hc
		return nil
	}
}

// WithToken authenticates with a static OAuth 2.0 user access token, which lasts about 2 hours.
func WithToken(accessToken string) Option {
	return func(c *Client) error {
		if accessToken == "" {
			return errors.New("WithToken: empty access token")
		}
		if !isBearerToken(accessToken) {
			// Usually the newline of a token read from a file: refused rather than trimmed, so that what
			// is sent is exactly what the caller gave. The message does not show the token.
			return errors.New("WithToken: " + badTokenText)
		}
		c.authorize, c.oauth1 = bearer(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: accessToken, TokenType: "Bearer"})), false
		return nil
	}
}

// WithTokenSource authenticates with tokens from ts, asked on every request.
func WithTokenSource(ts oauth2.TokenSource) Option {
	return func(c *Client) error {
		if ts == nil {
			return errors.New("WithTokenSource: nil token source")
		}
		c.authorize, c.oauth1 = bearer(ts), false
		return nil
	}
}

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option {
	return func(c *Client) error {
		if ua == "" || strings.ContainsFunc(ua, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) {
			return fmt.Errorf("WithUserAgent: %s is not a valid header value", quoteInput(ua))
		}
		c.userAgent = []string{ua}
		return nil
	}
}

// WithMaxRetries sets how many times a call is retried after a transport error, a 5xx or a 429
// (default DefaultMaxRetries; marking read is idempotent). 0 turns retries off.
func WithMaxRetries(n int) Option {
	return func(c *Client) error {
		if n < 0 {
			return fmt.Errorf("WithMaxRetries: %d is negative; 0 turns retries off", n)
		}
		c.retry.maxRetries = n
		return nil
	}
}

// WithMaxRateLimitWait sets the longest a call waits for a 429's reset before retrying (default
// DefaultMaxRateLimitWait); a reset further away returns the *APIError at once. 0 never waits.
func WithMaxRateLimitWait(d time.Duration) Option {
	return func(c *Client) error {
		if d < 0 {
			return fmt.Errorf("WithMaxRateLimitWait: %v is negative", d)
		}
		c.retry.maxRateLimitWait = d
		return nil
	}
}

// WithBackoff sets the backoff between retries: about min, doubling up to max, with jitter.
func WithBackoff(min, max time.Duration) Option {
	return func(c *Client) error {
		if min <= 0 || max < min {
			return fmt.Errorf("WithBackoff: want 0 < min <= max, got min %v, max %v", min, max)
		}
		c.retry.backoffMin, c.retry.backoffMax = min, max
		return nil
	}
}

// WithMaxResponseBytes caps the body read (default DefaultMaxResponseBytes); more is ErrResponseTooLarge.
func WithMaxResponseBytes(n int64) Option {
	return func(c *Client) error {
		if n < 1024 {
			return fmt.Errorf("WithMaxResponseBytes: %d is below the 1024-byte minimum", n)
		}
		c.maxResponseBytes = n
		return nil
	}
}

// WithLogger logs retries and rate-limit waits to l, never a secret. Without it nothing is logged.
func WithLogger(l *slog.Logger) Option {
	return func(c *Client) error {
		if l == nil {
			return errors.New("WithLogger: nil *slog.Logger")
		}
		c.logger = l
		return nil
	}
}

func defaultHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	// A bot marks many conversations on one host: keep enough idle connections for concurrent calls.
	t.MaxIdleConnsPerHost = 32
	t.ResponseHeaderTimeout = DefaultTimeout
	return &http.Client{Transport: t, Timeout: DefaultTimeout}
}
