package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/xchat-go/markread/api"
	"github.com/xchat-go/markread/internal/plural"
	"github.com/xchat-go/markread/internal/textsafe"
)

// noTokenHints follow the one-line error when no credentials are given.
var noTokenHints = `  Log in once with markread login: it keeps a token with the scopes ` + strings.Join(loginScopes, ", ") + `,
  which markread renews as it expires (set X_CLIENT_ID to your app's client ID first).
  Or set X_ACCESS_TOKEN to an OAuth 2.0 user access token with the scopes ` + strings.Join(api.Scopes, ", ") + `,
  or the four X_OAUTH1_* variables to OAuth 1.0a credentials.
  To see markread work without a token, run: markread demo
`

// outcome is what the main command reports with --json, as one JSON object.
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
}

type rateLimitJSON struct {
	Limit     int    `json:"limit"`
	Remaining int    `json:"remaining"`
	Reset     string `json:"reset,omitempty"` // RFC 3339
}

// argPrefix marks an argument such as "-5" as no flag: no flag of markread's is a digit, and a person
// who types it means a (wrong) ID. NUL cannot be in a command line's argument, so it cannot clash.
const argPrefix = "\x00"

func runMark(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) int {
	fs := newFlags("markread")
	tokenFile := fs.String("token-file", "", "")
	baseURL := fs.String("base-url", "", "")
	timeout := fs.Duration("timeout", api.DefaultTimeout, "")
	maxRetries := fs.Int("max-retries", api.DefaultMaxRetries, "")
	asJSON := fs.Bool("json", false, "")
	version := fs.Bool("version", false, "")
	help, err := parseFlags(fs, negativesAsArguments(fs, args), usageText, stdout, false)
	if help {
		return exitOK
	}
	if *version {
		fmt.Fprintln(stdout, versionText())
		return exitOK
	}
	var positional []string
	for _, arg := range fs.Args() {
		positional = append(positional, strings.TrimPrefix(arg, argPrefix))
	}
	var out outcome
	var res *api.MarkReadResult
	var kind authKind
	if err == nil {
		res, kind, err = mark(ctx, &out, positional, *tokenFile, *baseURL, *timeout, *maxRetries, env)
	}
	if err != nil {
		err = explain(err, kind, *timeout, &out)
		out.ExitCode = exitCode(err)
		out.Error = "markread: " + textsafe.OneLine(err.Error())
		if *asJSON {
			printJSON(stdout, out)
		}
		return exit(err, stderr)
	}
	out.Success, out.Attempts = true, res.Attempts
	out.Problems, out.RateLimit = res.Problems, rateLimitOf(res.RateLimit)
	if *asJSON {
		printJSON(stdout, out)
	} else {
		fmt.Fprintf(stdout, "marked %s read up to %s (%s%s)\n", out.ConversationID, out.SeenUntilSequenceID,
			plural.Count(res.Attempts, "attempt"), quotaText(res.RateLimit))
	}
	for _, p := range res.Problems {
		fmt.Fprintf(stderr, "  X also reported: %s\n", p) // Problem.String escapes control characters
	}
	return exitOK
}

// negativesAsArguments marks with argPrefix each argument that starts with "-" and a digit, unless it
// is the value of the flag before it (--max-retries -1), for pflag to take it as an argument.
func negativesAsArguments(fs *pflag.FlagSet, args []string) []string {
	out := slices.Clone(args)
	for i := 0; i < len(out); i++ {
		arg := out[i]
		if arg == "--" {
			break
		}
		if name, ok := strings.CutPrefix(arg, "--"); ok && !strings.Contains(name, "=") {
			if f := fs.Lookup(name); f != nil && f.NoOptDefVal == "" {
				i++ // its value
			}
		} else if len(arg) > 1 && arg[0] == '-' && '0' <= arg[1] && arg[1] <= '9' {
			out[i] = argPrefix + arg
		}
	}
	return out
}

// mark validates the input, finds the credentials and makes the call; out gets the IDs.
func mark(ctx context.Context, out *outcome, positional []string, tokenFile, baseURL string, timeout time.Duration, maxRetries int,
	env func(string) string) (*api.MarkReadResult, authKind, error) {
	if len(positional) != 2 {
		return nil, 0, usageErrorf("want 2 arguments, <conversation-id> <seen-until-sequence-id>; got %d (markread --help)", len(positional))
	}
	out.ConversationID, out.SeenUntilSequenceID = positional[0], positional[1]
	switch {
	case timeout <= 0:
		return nil, 0, usageErrorf("--timeout must be positive; got %v", timeout)
	case maxRetries < 0:
		return nil, 0, usageErrorf("--max-retries must be at least 0; got %d", maxRetries)
	}
	if err := checkArguments(positional[0], positional[1]); err != nil {
		return nil, 0, err
	}
	id, err := api.NormalizeConversationID(positional[0])
	if err != nil {
		return nil, 0, err
	}
	out.ConversationID = id
	// The timeout covers a renewal of a stored token as well as the call, except that a renewal already
	// sent is waited for (30s at most) and saved: X has spent the old refresh token by then.
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	auth, kind, err := markCredentials(ctx, tokenFile, env)
	if err != nil {
		return nil, kind, err
	}
	if baseURL == "" {
		baseURL = env("X_API_BASE_URL")
	}
	if baseURL == "" {
		baseURL = api.DefaultBaseURL
	}
	// A command line tool must not sit silently for minutes: a 429 is reported, not waited out.
	client, err := api.NewClient(api.WithBaseURL(baseURL), auth, api.WithMaxRetries(maxRetries), api.WithMaxRateLimitWait(0))
	if err != nil {
		return nil, kind, &exitError{code: exitUsage, err: err}
	}
	res, err := client.MarkConversationRead(ctx, id, positional[1])
	return res, kind, err
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

// explain fills out's details from the client's error and adds what a person needs to act on it.
func explain(err error, kind authKind, timeout time.Duration, out *outcome) error {
	var apiErr *api.APIError
	if errors.As(err, &apiErr) {
		out.Status, out.Problems, out.Attempts = apiErr.StatusCode, apiErr.Problems, apiErr.Attempts
		out.RateLimit = rateLimitOf(apiErr.RateLimit)
	}
	switch {
	case errors.Is(err, api.ErrClientRefused):
		return fmt.Errorf("%w; check X_CLIENT_ID, and that X_CLIENT_SECRET is set exactly when the app is a confidential client", err)
	case errors.Is(err, api.ErrRateLimited):
		if at := apiErr.RetryAt(); at.After(time.Now()) { // a reset already past (clock skew) says nothing useful
			out.RateLimitReset = at.UTC().Format(time.RFC3339)
			return fmt.Errorf("rate limited by X (HTTP 429); the limit resets at %s (in %s): %w", out.RateLimitReset, roughly(time.Until(at)), api.ErrRateLimited)
		}
		return fmt.Errorf("rate limited by X (HTTP 429), which named no reset time; wait a few minutes: %w", api.ErrRateLimited)
	case apiErr != nil && (apiErr.StatusCode == http.StatusUnauthorized || apiErr.StatusCode == http.StatusForbidden):
		// Its own words: the API's end in the problem's type, often "(about:blank)", which says nothing here.
		return &exitError{code: exitAuth, err: fmt.Errorf("HTTP %d %s: X refused the %s; %s", apiErr.StatusCode, http.StatusText(apiErr.StatusCode),
			[]string{"token", "stored token", "OAuth 1.0a credentials"}[kind], refusedHint[kind])}
	case errors.Is(err, api.ErrNoToken) && kind != storedToken: // X_ACCESS_TOKEN is no bearer token
		return &exitError{code: exitUsage, err: err}
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w; gave up after %s (--timeout)", err, timeout)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%w; interrupted", err)
	}
	return err
}

// refusedHint says what to check when X refuses each kind of credentials.
var refusedHint = []string{
	bearerToken: "check that it is an OAuth 2.0 user token with the scopes " + strings.Join(api.Scopes, ", ") + " and that it has not expired",
	storedToken: "check that it has the scopes " + strings.Join(api.Scopes, ", ") + " (markread token), or run markread login again",
	oauth1User: "check the four X_OAUTH1_* values (the access token and its secret are the user's, made for the app whose " +
		"consumer key is given) and that the app may read and write Direct Messages",
}

func printJSON(stdout io.Writer, out outcome) {
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(out) // nothing in it fails to encode
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
