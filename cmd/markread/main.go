// Command markread marks an X Chat conversation read, up to and including a message, through X API v2's
// "Mark Conversation as Read" endpoint. `markread demo` shows it working against a built-in fake X API
// without a token, and `markread serve` runs that fake for other programs' tests. `markread --help` lists
// the flags and exit codes.
package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/xchat-go/markread/api"
	"github.com/xchat-go/markread/internal/textsafe"
)

// Exit codes, documented in usageText and the README: scripts branch on them.
const (
	exitOK          = 0
	exitFailure     = 1 // anything not covered below: network, 5xx, timeout, a renewal X did not answer
	exitUsage       = 2 // usage error or invalid input; nothing was sent
	exitAuth        = 3 // X refused the credentials: a 401 or 403, invalid_grant, the app refused
	exitRateLimited = 4 // 429; the message names the reset time
)

// usageText's scopes come from api.Scopes, its default base URL from api.DefaultBaseURL.
var usageText = `markread marks an X Chat conversation read, up to and including a message.

Usage:
  markread [flags] <conversation-id> <seen-until-sequence-id>
  markread login       log in to X in the browser and keep the token (markread login --help)
  markread token       say whether a token is kept, when it expires and its scopes, never the token
  markread logout      delete the kept token
  markread demo        mark a conversation read against a built-in fake X API; no token needed
  markread serve       run the fake X API on a loopback port for other programs' tests
                       (markread serve --help for its flags)

The conversation ID is the recipient's user ID for a 1:1 conversation, "<user ID>-<user ID>", the
"<user ID>:<user ID>" form X Chat events carry, or "g<group ID>". The sequence ID is the last message read.

Authentication, one kind only:
  - OAuth 1.0a: all four of $X_OAUTH1_CONSUMER_KEY, $X_OAUTH1_CONSUMER_SECRET, $X_OAUTH1_ACCESS_TOKEN and
    $X_OAUTH1_ACCESS_TOKEN_SECRET (user tokens that do not expire)
  - $X_ACCESS_TOKEN: an OAuth 2.0 user access token with the scopes ` + strings.Join(api.Scopes, ", ") + `
  - the token markread login kept (or the token file it wrote, given with --token-file), renewed as it
    expires through your app: set $X_CLIENT_ID, and $X_CLIENT_SECRET for a confidential client
There is no --token flag: a token on the command line ends up in shell history and in ps.

Flags:
  --token-file PATH   the token file markread login wrote (default: markread/token.json in your config
                      directory); it must be a regular file, yours, mode 0600
  --base-url URL      the API's base URL (default $X_API_BASE_URL, else ` + api.DefaultBaseURL + `)
  --timeout D         give up after D, retries included (default ` + api.DefaultTimeout.String() + `); a renewal already sent is saved
  --max-retries N     retries after a network error or a 5xx (default ` + strconv.Itoa(api.DefaultMaxRetries) + `); a 503's short Retry-After is
                      waited out; a rate limit (429) is reported, not waited out
  --json              print one JSON object on stdout, on success and on failure
  -h, --help          show this help
  --version           show markread's version

Exit codes:
  0  marked read
  1  any other failure: network, server error, timeout, a renewal of the token that X did not answer
  2  usage error or invalid input; nothing was sent
  3  X refused the credentials (HTTP 401 or 403, or the token endpoint refused the refresh token or
     the app): run markread login, or check X_CLIENT_ID and X_CLIENT_SECRET
  4  rate limited; the message says when the limit resets
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole command, with its environment passed in, so that tests can run it in-process.
func run(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) int {
	var err error
	command, rest := "", args
	if len(args) > 0 {
		command, rest = args[0], args[1:]
	}
	switch command {
	case "demo":
		err = runDemo(ctx, rest, stdout)
	case "serve":
		err = runServe(ctx, rest, env, stdout, stderr)
	case "login":
		err = runLogin(ctx, rest, env, os.Stdin, stdout, stderr)
	case "token":
		err = runToken(ctx, rest, stdout)
	case "logout":
		err = runLogout(ctx, rest, stdout)
	case "help":
		fmt.Fprint(stdout, usageText)
	case "version", "--version":
		fmt.Fprintln(stdout, versionText())
	default:
		return runMark(ctx, args, env, stdout, stderr)
	}
	return exit(err, stderr)
}

// exit prints err, if any, on one line with the command's prefix, then its hints, and returns the exit
// code the README gives its cause.
func exit(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "markread: "+textsafe.OneLine(err.Error()))
	var hinted *exitError
	if errors.As(err, &hinted) {
		fmt.Fprint(stderr, hinted.hints)
	}
	return exitCode(err)
}

// exitCode is the exit code for err's cause.
func exitCode(err error) int {
	var coded *exitError
	var apiErr *api.APIError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &coded) && coded.code != 0:
		return coded.code
	case errors.Is(err, api.ErrLoginRequired), errors.Is(err, api.ErrClientRefused):
		return exitAuth
	case errors.Is(err, api.ErrInvalidConversationID), errors.Is(err, api.ErrInvalidSequenceID):
		return exitUsage
	case errors.Is(err, api.ErrRateLimited):
		return exitRateLimited
	case errors.As(err, &apiErr) && (apiErr.StatusCode == http.StatusUnauthorized || apiErr.StatusCode == http.StatusForbidden):
		return exitAuth
	}
	return exitFailure
}

// exitError gives an error an exit code of its own (0: by its cause) and lines for a person after it.
type exitError struct {
	code  int
	err   error
	hints string
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErrorf is a usage error: exit 2, nothing sent.
func usageErrorf(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// failf is an error with the given exit code.
func failf(code int, format string, args ...any) error {
	return &exitError{code: code, err: fmt.Errorf(format, args...)}
}

// newFlags is a subcommand's flag set: GNU --flags anywhere among the arguments, -- ends them, and no
// output of its own (the caller prints usage and errors).
func newFlags(name string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseFlags parses args into fs. help says -h or --help was given (usage is printed to stdout); an error
// is a usage error naming the command's help, as is an argument when none is taken.
func parseFlags(fs *pflag.FlagSet, args []string, usage string, stdout io.Writer, noArguments bool) (help bool, err error) {
	command := strings.TrimPrefix(strings.TrimPrefix(fs.Name(), "markread"), " ")
	if command != "" {
		command += ": "
	}
	switch err := fs.Parse(args); {
	case errors.Is(err, pflag.ErrHelp):
		fmt.Fprint(stdout, usage)
		return true, nil
	case err != nil:
		return false, usageErrorf("%s%v (%s --help)", command, textsafe.OneLine(err.Error()), fs.Name())
	case noArguments && fs.NArg() > 0:
		return false, usageErrorf("%stakes no arguments (%s --help)", command, fs.Name())
	}
	return false, nil
}

// versionText is "markread <module version> (<VCS revision>, <Go version>)": the tag a `go install
// …@v0.2.0` built, or "(devel)" and the commit for a local build.
func versionText() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "markread (no build information)"
	}
	details := []string{info.GoVersion}
	for _, setting := range info.Settings {
		if setting.Key == "vcs.revision" {
			details = append([]string{"commit " + setting.Value[:min(12, len(setting.Value))]}, details...)
		}
	}
	return "markread " + cmp.Or(info.Main.Version, "(devel)") + " (" + strings.Join(details, ", ") + ")"
}
