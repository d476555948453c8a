package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/xchat-go/markread/api"
	"github.com/xchat-go/markread/internal/plural"
)

// maxTokenFileBytes bounds what --token-file reads: X's tokens are about a hundred bytes, and a wrong
// path (a log file, a device) must not be read whole.
const maxTokenFileBytes = 64 << 10

// minScrubbedToken is the shortest secret scrub replaces.
const minScrubbedToken = 8

// noTokenHints follow the one-line error when no credentials are given.
const noTokenHints = `  Log in once with markread login: it keeps a token with the scopes users.read, dm.write, tweet.read and
  offline.access, which markread renews as it expires (set X_CLIENT_ID to your app's client ID first).
  Or set X_ACCESS_TOKEN to an OAuth 2.0 user access token with those scopes, or the four X_OAUTH1_*
  variables to OAuth 1.0a credentials.
  To see markread work without a token, run: markread demo
`

// markOptions are the main command's flags.
type markOptions struct {
	tokenFile  string
	baseURL    string
	timeout    time.Duration
	maxRetries int
	json       bool
}

// outcome is what the main command reports, as text or as one JSON object.
type outcome struct {
	ConversationID      string         `json:"conversation_id"`
	SeenUntilSequenceID string         `json:"seen_until_sequence_id"`
	Success             bool           `json:"success"`
	Attempts            int            `json:"attempts,omitempty"`
	RateLimit           *rateLimitJSON `json:"rate_limit,omitempty"`
	Problems            []api.Problem  `json:"problems,omitempty"`
	Error               string         `json:"error,omitempty"` // the stderr line, "markread: " and all
	Status              int            `json:"status,omitempty"`
	RateLimitReset      string         `json:"rate_limit_reset,omitempty"` // RFC 3339, when X named one
	ExitCode            int            `json:"exit_code"`
	hints               string         // extra stderr lines for a person, not part of the JSON
	message             string         // the stdout line on success
}

type rateLimitJSON struct {
	Limit     int    `json:"limit"`
	Remaining int    `json:"remaining"`
	Reset     string `json:"reset,omitempty"` // RFC 3339
}

func runMark(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) int {
	opts := markOptions{timeout: 30 * time.Second, maxRetries: api.DefaultMaxRetries}
	fs := flag.NewFlagSet("markread", flag.ContinueOnError)
	fs.StringVar(&opts.tokenFile, "token-file", "", "")
	fs.StringVar(&opts.baseURL, "base-url", "", "")
	fs.DurationVar(&opts.timeout, "timeout", opts.timeout, "")
	fs.IntVar(&opts.maxRetries, "max-retries", opts.maxRetries, "")
	fs.BoolVar(&opts.json, "json", false, "")
	positional, err := parseInterspersed(fs, args)
	switch {
	case errors.Is(err, errHelp):
		fmt.Fprint(stdout, usageText)
		return exitOK
	case err != nil:
		errorLine(stderr, err.Error()+" (markread --help lists the flags)")
		return exitUsage
	}

	out, secrets := mark(ctx, opts, positional, env)
	report(out, opts.json, secrets, stdout, stderr)
	return out.ExitCode
}

// mark validates the input, finds the credentials and makes the call. It returns the outcome and the
// credentials sent, so that report can scrub them from anything printed.
func mark(ctx context.Context, opts markOptions, positional []string, env func(string) string) (outcome, []string) {
	if len(positional) != 2 {
		return usageFailure(fmt.Sprintf("want 2 arguments, <conversation-id> <seen-until-sequence-id>; got %d (markread --help)", len(positional))), nil
	}
	out := outcome{ConversationID: positional[0], SeenUntilSequenceID: positional[1]}
	if opts.timeout <= 0 || opts.maxRetries < 0 {
		return out.usage("--timeout must be positive and --max-retries at least 0"), nil
	}
	if err := checkArguments(positional[0], positional[1]); err != nil {
		return out.invalid(err), nil
	}
	id, err := api.NormalizeConversationID(positional[0])
	if err != nil {
		return out.invalid(err), nil
	}
	out.ConversationID = id

	// The timeout covers a renewal of a stored token as well as the call, except that a renewal already
	// sent is waited for (30s at most) and saved: X has spent the old refresh token by then.
	ctx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()
	auth, err := markCredentials(ctx, opts.tokenFile, env)
	if err != nil {
		f := asFailure(err)
		out.Error, out.ExitCode, out.hints = f.line(), f.code, f.hints
		return out, nil
	}

	baseURL := opts.baseURL
	if baseURL == "" {
		baseURL = env("X_API_BASE_URL")
	}
	if baseURL == "" {
		baseURL = api.DefaultBaseURL
	}
	client, err := api.NewClient(
		api.WithBaseURL(baseURL),
		auth.option,
		api.WithMaxRetries(opts.maxRetries),
		// A command line tool must not sit silently for minutes: report the reset and let the caller decide.
		// 5xx, and a 503's Retry-After, are still retried within --max-retries.
		api.WithMaxRateLimitWait(0),
	)
	if err != nil {
		return out.invalid(err), auth.secrets()
	}

	res, err := client.MarkConversationRead(ctx, id, out.SeenUntilSequenceID)
	if err != nil {
		return out.failure(err, opts.timeout, auth.kind), auth.secrets()
	}
	out.Success = true
	out.Attempts = res.Attempts
	out.Problems = res.Problems
	out.RateLimit = rateLimitOf(res.RateLimit)
	out.message = fmt.Sprintf("marked %s read up to %s (%s%s)", id, out.SeenUntilSequenceID, plural.Count(res.Attempts, "attempt"), quotaText(res.RateLimit))
	if len(res.Problems) > 0 {
		var b strings.Builder
		for _, p := range res.Problems {
			fmt.Fprintf(&b, "  X also reported: %s\n", p) // Problem.String escapes control characters
		}
		out.hints = b.String()
	}
	return out, auth.secrets()
}

// checkArguments checks the two arguments with the api package's own rules and, when the sequence ID is
// refused, says which argument is which: swapping them is the easy mistake, since a recipient's user ID
// is a run of digits too.
func checkArguments(conversationID, sequenceID string) error {
	err := api.ValidateSequenceID(sequenceID)
	if err == nil {
		return nil
	}
	if _, convErr := api.NormalizeConversationID(sequenceID); convErr == nil && api.ValidateSequenceID(conversationID) == nil {
		return fmt.Errorf("%w; the second argument looks like a conversation ID and the first like a sequence ID: "+
			"the order is <conversation-id> <seen-until-sequence-id>", err)
	}
	return fmt.Errorf("%w (the second argument, <seen-until-sequence-id>)", err)
}

func usageFailure(msg string) outcome {
	return outcome{Error: "markread: " + msg, ExitCode: exitUsage}
}

// usage is a usage error the command found itself; msg has no prefix yet.
func (o outcome) usage(msg string) outcome {
	o.Error, o.ExitCode = "markread: "+msg, exitUsage
	return o
}

// invalid is input the api package refused; its error carries the package prefix already.
func (o outcome) invalid(err error) outcome {
	o.Error, o.ExitCode = err.Error(), exitUsage
	return o
}

// failure turns the client's error, which carries the package prefix, into an outcome with the exit
// code the documentation promises and a hint for a person where one helps.
func (o outcome) failure(err error, timeout time.Duration, kind authKind) outcome {
	o.Error, o.ExitCode = err.Error(), exitFailure
	var apiErr *api.APIError
	if errors.As(err, &apiErr) {
		o.Status = apiErr.StatusCode
		o.Problems = apiErr.Problems
		o.Attempts = apiErr.Attempts
		o.RateLimit = rateLimitOf(apiErr.RateLimit)
	}
	var refused *oauth2.RetrieveError
	switch {
	case errors.Is(err, api.ErrLoginRequired):
		o.ExitCode = exitAuth // the message says to run markread login
	case kind == storedToken && errors.As(err, &refused):
		o.ExitCode = exitAuth
		o.Error += "; check X_CLIENT_ID, and that X_CLIENT_SECRET is set exactly when the app is a confidential client"
	case errors.Is(err, api.ErrInvalidConversationID), errors.Is(err, api.ErrInvalidSequenceID),
		errors.Is(err, api.ErrNoToken) && kind != storedToken: // a renewal that failed is no usage error
		o.ExitCode = exitUsage
	case errors.Is(err, api.ErrRateLimited):
		o.ExitCode = exitRateLimited
		if at := apiErr.RetryAt(); at.After(time.Now()) { // a reset already past (clock skew) says nothing useful
			o.RateLimitReset = at.UTC().Format(time.RFC3339)
			o.Error = fmt.Sprintf("markread: rate limited by X (HTTP 429); the limit resets at %s (in %s)",
				o.RateLimitReset, time.Until(at).Round(time.Second))
		} else {
			o.Error = "markread: rate limited by X (HTTP 429), which named no reset time; wait a few minutes"
		}
	case apiErr != nil && (apiErr.StatusCode == http.StatusUnauthorized || apiErr.StatusCode == http.StatusForbidden):
		o.ExitCode = exitAuth
		switch kind {
		case oauth1User:
			o.Error += "; X refused the OAuth 1.0a credentials: check the four X_OAUTH1_* values (the access token " +
				"and its secret are the user's, made for the app whose consumer key is given) and that the app may read and write Direct Messages"
		case storedToken:
			o.Error += "; X refused the stored token: check that it has the scopes users.read, dm.write and " +
				"tweet.read (markread token), or run markread login again"
		default:
			o.Error += "; X refused the token: check that it is an OAuth 2.0 user token with the scopes " +
				"users.read, dm.write and tweet.read and that it has not expired"
		}
	case errors.Is(err, context.DeadlineExceeded):
		o.Error += fmt.Sprintf("; gave up after %s (--timeout)", timeout)
	case errors.Is(err, context.Canceled):
		o.Error += "; interrupted"
	}
	return o
}

// report prints the outcome: a line on stdout on success, one on stderr on failure, and with --json one JSON
// object on stdout either way. The credentials are scrubbed from all of it, whatever a server may have echoed.
func report(o outcome, asJSON bool, secrets []string, stdout, stderr io.Writer) {
	clean := func(s string) string { return scrub(s, secrets...) }
	if o.ExitCode != exitOK {
		fmt.Fprintln(stderr, clean(o.Error))
		fmt.Fprint(stderr, clean(o.hints))
	} else if !asJSON {
		fmt.Fprintln(stdout, clean(o.message))
		fmt.Fprint(stderr, clean(o.hints))
	}
	if asJSON {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(o); err != nil {
			errorLine(stderr, "encoding the JSON output: "+err.Error())
			return
		}
		fmt.Fprint(stdout, clean(buf.String()))
	}
}

func rateLimitOf(rl api.RateLimit) *rateLimitJSON {
	if rl.Limit == 0 && rl.Remaining == 0 && rl.Reset.IsZero() {
		return nil
	}
	out := &rateLimitJSON{Limit: rl.Limit, Remaining: rl.Remaining}
	if !rl.Reset.IsZero() {
		out.Reset = rl.Reset.UTC().Format(time.RFC3339)
	}
	return out
}

func quotaText(rl api.RateLimit) string {
	if rl.Limit == 0 || rl.Reset.IsZero() {
		return ""
	}
	return fmt.Sprintf("; %d of %d calls left until %s", rl.Remaining, rl.Limit, rl.Reset.UTC().Format(time.RFC3339))
}
