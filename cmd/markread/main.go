// Command markread marks an X Chat conversation read, up to and including a message, through X API v2's
// "Mark Conversation as Read" endpoint. `markread demo` shows it working against a built-in fake X API
// without a token, and `markread serve` runs that fake for other programs' tests. `markread --help` lists
// the flags and exit codes.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/xchat-go/markread/api"
	"github.com/xchat-go/markread/internal/textsafe"
)

// Exit codes, documented in usageText: scripts branch on them.
const (
	exitOK          = 0
	exitFailure     = 1 // anything not covered below: network, 5xx, timeout, interruption
	exitUsage       = 2 // usage error or invalid input; nothing was sent
	exitAuth        = 3 // X refused the token (401 or 403)
	exitRateLimited = 4 // 429; the message names the reset time
)

// usageText's scopes and default base URL (and noTokenHelp's scopes in mark.go) follow spec/openapi.yaml by
// design; spec_oracle_test.go names the spec's member when they part.
const usageText = `markread marks an X Chat conversation read, up to and including a message.

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
  - an OAuth 2.0 user access token with the scopes users.read, dm.write and tweet.read, from
    $X_ACCESS_TOKEN or --token-file
  - the token markread login kept (or a token file it wrote, given with --token-file), renewed as it
    expires through your app: set $X_CLIENT_ID, and $X_CLIENT_SECRET for a confidential client;
    login asks for offline.access too, for the refresh token
There is no --token flag: a token on the command line ends up in shell history and in ps.

Flags:
  --token-file PATH   read the access token from PATH (surrounding white space is ignored), or the token
                      file markread login wrote there; PATH must be private to you (chmod 600)
  --base-url URL      the API's base URL (default $X_API_BASE_URL, else https://api.x.com)
  --timeout D         give up after D, retries included (default 30s)
  --max-retries N     retries after a network error or a 5xx (default 3); a 503's Retry-After is waited
                      out when within 8s; a rate limit (429) is reported, not waited out
  --json              print one JSON object on stdout, on success and on failure
  -h, --help          show this help
  --version           show markread's version

Exit codes:
  0  marked read
  1  any other failure: network, server error, timeout
  2  usage error or invalid input; nothing was sent
  3  X refused the token (HTTP 401 or 403), or the kept token cannot be renewed: run markread login
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
	if len(args) > 0 {
		switch args[0] {
		case "demo":
			return runDemo(ctx, args[1:], stdout, stderr)
		case "serve":
			return runServe(ctx, args[1:], env, stdout, stderr)
		case "login":
			return runLogin(ctx, args[1:], env, os.Stdin, stdout, stderr)
		case "token":
			return runToken(ctx, args[1:], stdout, stderr)
		case "logout":
			return runLogout(ctx, args[1:], stdout, stderr)
		case "help":
			fmt.Fprint(stdout, usageText)
			return exitOK
		case "version", "--version", "-version":
			fmt.Fprintln(stdout, versionText())
			return exitOK
		}
	}
	return runMark(ctx, args, env, stdout, stderr)
}

// versionText is "markread <module version> (<VCS revision>, <Go version>)" from the binary's build
// information: the tag a `go install …@v0.2.0` built, or "(devel)" and the commit for a local build.
func versionText() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "markread (no build information) api " + api.Version
	}
	version := info.Main.Version
	if version == "" {
		version = "(devel)"
	}
	details := []string{"api " + api.Version}
	for _, setting := range info.Settings {
		switch setting.Key {
		case "vcs.revision":
			details = append(details, "commit "+setting.Value[:min(12, len(setting.Value))])
		case "vcs.modified":
			if setting.Value == "true" {
				details = append(details, "modified")
			}
		}
	}
	details = append(details, info.GoVersion)
	return "markread " + version + " (" + strings.Join(details, ", ") + ")"
}

// errorLine prints one of the command's own error messages to stderr, with the command's prefix. Errors
// from the api package carry its prefix already and are printed as they are.
func errorLine(stderr io.Writer, msg string) {
	fmt.Fprintln(stderr, "markread: "+msg)
}

// failure is an error that ends the command with its exit code. msg is the command's own text, printed
// with errorLine, or with fromAPI the api package's error text, prefix included, printed as it is.
type failure struct {
	code    int
	msg     string
	fromAPI bool
	hints   string // lines for a person after the error line, indented
}

func (f *failure) Error() string { return f.msg }

// line is the stderr line, prefix included.
func (f *failure) line() string {
	if f.fromAPI {
		return f.msg
	}
	return "markread: " + f.msg
}

func (f *failure) print(stderr io.Writer) int {
	if f.fromAPI {
		fmt.Fprintln(stderr, f.msg)
	} else {
		errorLine(stderr, f.msg)
	}
	fmt.Fprint(stderr, f.hints)
	return f.code
}

func failf(code int, format string, args ...any) error {
	return &failure{code: code, msg: fmt.Sprintf(format, args...)}
}

// asFailure gives err an exit code: its own if it has one, else exitFailure.
func asFailure(err error) *failure {
	var f *failure
	if errors.As(err, &f) {
		return f
	}
	return &failure{code: exitFailure, msg: textsafe.OneLine(err.Error())}
}

// scrub replaces each secret in s. Scrubbing a string of a few characters would shred the text (and such a
// string is no secret: X's tokens and keys are far longer), so only plausible secrets are replaced.
func scrub(s string, secrets ...string) string {
	for _, secret := range secrets {
		if len(secret) >= minScrubbedToken {
			s = strings.ReplaceAll(s, secret, "[REDACTED]")
		}
	}
	return s
}
