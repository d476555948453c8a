package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xchat-go/markread/api"
	"github.com/xchat-go/markread/api/apitest"
)

// These tests build the real binary once and run it against apitest servers on loopback.

// secretToken is what the tests hand the binary; no output may ever contain it.
const secretToken = "e2e-secret-token-3f9c1a7d5b2e"

var binary string

func TestMain(m *testing.M) {
	if mode := os.Getenv(fakeBrowserEnv); mode != "" {
		os.Exit(playBrowser(mode, os.Args[len(os.Args)-1])) // markread login ran this binary as $BROWSER
	}
	dir, err := os.MkdirTemp("", "markread-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "markread")
	build := exec.Command("go", "build", "-buildvcs=false", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building markread:", err)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	// No test, in-process or run as a binary, may find or touch the token of the person running it: the
	// default token file lives in the config directory.
	for name, value := range map[string]string{"HOME": dir, "XDG_CONFIG_HOME": filepath.Join(dir, "config"), "AppData": filepath.Join(dir, "config")} {
		if err := os.Setenv(name, value); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// cleanEnviron is the test process's environment without what would change markread's behaviour: X's
// credentials and endpoints, markread's own variables and the browser.
func cleanEnviron() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "X_") && !strings.HasPrefix(kv, "MARKREAD_") && !strings.HasPrefix(kv, "BROWSER=") {
			env = append(env, kv)
		}
	}
	return env
}

// result is one run of the binary.
type result struct {
	stdout, stderr string
	code           int
}

// markread runs the binary with env added to a clean environment (see cleanEnviron) and fails the test if
// its output contains secretToken.
func markread(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a hang fails, not a slow run
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(cleanEnviron(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("running markread: %v", err)
	}
	r := result{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
	if strings.Contains(r.stdout, secretToken) || strings.Contains(r.stderr, secretToken) {
		t.Errorf("markread %s: output contains the token", strings.Join(args, " "))
	}
	return r
}

func newServer(t *testing.T, opts ...apitest.Option) *apitest.Server {
	t.Helper()
	srv := apitest.NewServer(append([]apitest.Option{apitest.WithTokens(secretToken)}, opts...)...)
	t.Cleanup(srv.Close)
	return srv
}

func tokenEnv(srv *apitest.Server) []string {
	return []string{"X_ACCESS_TOKEN=" + secretToken, "X_API_BASE_URL=" + srv.URL}
}

func TestMarksAConversationRead(t *testing.T) {
	srv := newServer(t)
	r := markread(t, tokenEnv(srv), "g1940387460021112832", "1940387512345678901")
	if r.code != exitOK || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q; want 0 and nothing", r.code, r.stderr)
	}
	if seq, ok := srv.ReadState(secretToken, "g1940387460021112832"); !ok || seq != "1940387512345678901" {
		t.Errorf("server state %q, %v; want the mark applied", seq, ok)
	}
	if !strings.Contains(r.stdout, "marked g1940387460021112832 read up to 1940387512345678901") {
		t.Errorf("stdout %q does not confirm the mark", r.stdout)
	}
}

func TestFlagsAfterArgumentsAndTheColonForm(t *testing.T) {
	srv := newServer(t)
	r := markread(t, []string{"X_ACCESS_TOKEN=" + secretToken}, "783214:1587411342381740032", "7", "--base-url", srv.URL)
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if _, ok := srv.ReadState(secretToken, "783214-1587411342381740032"); !ok {
		t.Errorf("no mark under the a-b form; marks %+v", srv.Marks())
	}
}

// --token-file is the token file markread login writes, and nothing else: a file holding only an access
// token is refused as the store refuses any file it cannot decode, and nothing is sent.
func TestTokenFileIsTheStoresFile(t *testing.T) {
	srv := newServer(t)
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte(secretToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := markread(t, []string{"X_API_BASE_URL=" + srv.URL, "X_CLIENT_ID=app"}, "--token-file", path, "g1", "5")
	if r.code != exitUsage || !strings.Contains(r.stderr, "token file "+path+" cannot be read") || strings.Contains(r.stderr, secretToken) {
		t.Errorf("a raw token file: exit %d, stderr %q; want 2 saying the file cannot be read", r.code, r.stderr)
	}
	r = markread(t, []string{"X_ACCESS_TOKEN=other-token-from-env", "X_API_BASE_URL=" + srv.URL}, "--token-file", path, "g1", "6")
	if r.code != exitUsage || !strings.Contains(r.stderr, "X_ACCESS_TOKEN and --token-file") {
		t.Errorf("token file and X_ACCESS_TOKEN: exit %d, stderr %q; want 2 naming both", r.code, r.stderr)
	}
	if srv.Requests() != 0 {
		t.Errorf("Requests = %d, want 0", srv.Requests())
	}
}

func TestInvalidInputSendsNothing(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"letters", []string{"abc", "5"}},
		{"empty conversation ID", []string{"", "5"}},
		{"20 digits", []string{"12345678901234567890", "5"}},
		{"three parts", []string{"1-2-3", "5"}},
		{"bare g", []string{"g", "5"}},
		{"bad colon form", []string{"1:x", "5"}},
		{"space around", []string{" 123", "5"}},
		{"unicode digits", []string{"١٢٣", "5"}},
		{"empty sequence ID", []string{"g1", ""}},
		{"letters in the sequence ID", []string{"g1", "5a"}},
		{"negative sequence ID", []string{"g1", "--", "-5"}},
		{"unicode digits in the sequence ID", []string{"g1", "١٢"}},
		{"swapped arguments", []string{"1940387512345678901", "g1940387460021112832"}},
		{"one argument", []string{"g1"}},
		{"three arguments", []string{"g1", "5", "6"}},
		{"unknown flag", []string{"--token", "x", "g1", "5"}},
		{"bad timeout", []string{"--timeout", "0s", "g1", "5"}},
		{"unparsable timeout", []string{"--timeout", "abc", "g1", "5"}},
		{"flag without its value", []string{"g1", "5", "--max-retries"}},
		{"http to a remote host", []string{"--base-url", "http://example.com", "g1", "5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t)
			r := markread(t, tokenEnv(srv), tt.args...)
			if r.code != exitUsage {
				t.Errorf("exit %d, want 2; stderr %q", r.code, r.stderr)
			}
			if lines := strings.Count(strings.TrimSpace(r.stderr), "\n") + 1; r.stderr == "" || lines != 1 {
				t.Errorf("stderr %q, want one line", r.stderr)
			}
			if n := srv.Requests(); n != 0 {
				t.Errorf("the server saw %d requests, want 0", n)
			}
		})
	}
}

// Swapped arguments are the easy mistake (a recipient's user ID is digits, like a sequence ID): the
// message says which argument is which.
func TestSwappedArgumentsAreNamed(t *testing.T) {
	srv := newServer(t)
	r := markread(t, tokenEnv(srv), "1940387512345678901", "g1940387460021112832")
	if r.code != exitUsage || !strings.Contains(r.stderr, "second argument looks like a conversation ID") ||
		!strings.Contains(r.stderr, "<conversation-id> <seen-until-sequence-id>") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("exit %d, stderr %q; want 2 and one line saying which argument is which", r.code, r.stderr)
	}
	if srv.Requests() != 0 {
		t.Errorf("the server saw %d requests, want 0", srv.Requests())
	}
}

// Flag errors spell the flags as the help does.
func TestFlagErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--timeout", "abc", "g1", "5"}, `invalid argument "abc" for "--timeout" flag`},
		{[]string{"g1", "5", "--max-retries", "x"}, `invalid argument "x" for "--max-retries" flag`},
		{[]string{"--token", "x", "g1", "5"}, "unknown flag: --token (markread --help)"},
		{[]string{"g1", "5", "--timeout"}, "flag needs an argument: --timeout"},
		{[]string{"--json=maybe", "g1", "5"}, `invalid argument "maybe" for "--json" flag`},
		{[]string{"g1", "5", "--max-retries", "-1"}, "--max-retries must be at least 0; got -1"},
		{[]string{"g1", "-5"}, "(the second argument, <seen-until-sequence-id>)"},
	} {
		r := markread(t, nil, tt.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tt.want) || strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "markread: ") {
			t.Errorf("%q: exit %d, stderr %q; want 2 saying %q", tt.args, r.code, r.stderr, tt.want)
		}
	}
}

func TestVersion(t *testing.T) {
	for _, arg := range []string{"--version", "version"} {
		r := markread(t, nil, arg)
		if r.code != exitOK || !strings.HasPrefix(r.stdout, "markread (devel) (") || // built without VCS information
			!strings.Contains(r.stdout, "go1.") || strings.Count(r.stdout, "\n") != 1 {
			t.Errorf("%s: exit %d, stdout %q", arg, r.code, r.stdout)
		}
	}
}

// A hostile server's problem text cannot forge output lines, and the token it echoes (JSON-escaped,
// deep in a problem's extra members) reaches neither stderr nor --json.
func TestHostileAnswersStayOneLineAndTokenFree(t *testing.T) {
	escaped := ""
	for _, c := range []byte(secretToken) {
		escaped += fmt.Sprintf(`\u%04x`, c)
	}
	body := `{"type":"about:blank","title":"Forbidden","detail":"nope\nmarkread: marked g1 read\u001b[2K","status":403,` +
		`"extra":{"deep":[{"k":"` + escaped + `"}]}}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(body))
	}))
	defer srv.Close()
	for _, asJSON := range []bool{false, true} {
		args := []string{"g1", "5"}
		if asJSON {
			args = append(args, "--json")
		}
		r := markread(t, []string{"X_ACCESS_TOKEN=" + secretToken, "X_API_BASE_URL=" + srv.URL}, args...)
		if r.code != exitAuth || strings.Count(r.stderr, "\n") != 1 || strings.ContainsAny(r.stderr, "\x1b\r") {
			t.Errorf("json %v: exit %d, stderr %q; want 3 and one line", asJSON, r.code, r.stderr)
		}
		if strings.Contains(r.stdout+r.stderr, escaped) || strings.Contains(r.stdout, secretToken) {
			t.Errorf("json %v: the output carries the token", asJSON)
		}
	}
}

func TestNoTokenPointsAtTheDemo(t *testing.T) {
	srv := newServer(t)
	r := markread(t, []string{"X_API_BASE_URL=" + srv.URL}, "g1", "5")
	if r.code != exitUsage {
		t.Errorf("exit %d, want 2", r.code)
	}
	for _, want := range []string{"markread login", "X_ACCESS_TOKEN", "--token-file", "X_OAUTH1_*", "markread demo", "dm.write", "offline.access"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr does not mention %q:\n%s", want, r.stderr)
		}
	}
	if srv.Requests() != 0 {
		t.Errorf("the server saw %d requests, want 0", srv.Requests())
	}
}

func TestRefusedTokenExits3(t *testing.T) {
	srv := apitest.NewServer(apitest.WithTokens("some-other-token"))
	defer srv.Close()
	r := markread(t, tokenEnv(srv), "g1", "5")
	if r.code != exitAuth {
		t.Errorf("exit %d, want 3; stderr %q", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "markread: HTTP 401 Unauthorized: X refused the token; check") || strings.Contains(r.stderr, "about:blank") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("stderr %q, want one line naming HTTP 401", r.stderr)
	}
	if srv.Requests() != 1 {
		t.Errorf("Requests = %d, want 1: a 401 is not retried", srv.Requests())
	}
}

func TestRateLimitedExits4WithTheReset(t *testing.T) {
	srv := newServer(t, apitest.WithRateLimit(1, time.Hour))
	if r := markread(t, tokenEnv(srv), "g1", "5"); r.code != exitOK {
		t.Fatalf("first call: exit %d: %s", r.code, r.stderr)
	}
	r := markread(t, tokenEnv(srv), "g1", "6")
	if r.code != exitRateLimited {
		t.Fatalf("exit %d, want 4; stderr %q", r.code, r.stderr)
	}
	reset := srv.RateLimit(secretToken).Reset.UTC().Format(time.RFC3339)
	if !strings.Contains(r.stderr, reset) {
		t.Errorf("stderr %q does not name the reset %s", r.stderr, reset)
	}
	if seq, _ := srv.ReadState(secretToken, "g1"); seq != "5" {
		t.Errorf("server state %q, want 5", seq)
	}
}

func TestServerErrorsAreRetriedThenExit1(t *testing.T) {
	srv := newServer(t)
	srv.FailNext(1, http.StatusServiceUnavailable)
	if r := markread(t, tokenEnv(srv), "g1", "5"); r.code != exitOK || !strings.Contains(r.stdout, "2 attempts") {
		t.Errorf("one 503: exit %d, stdout %q; want 0 after 2 attempts", r.code, r.stdout)
	}

	srv.FailNext(1, http.StatusInternalServerError)
	r := markread(t, tokenEnv(srv), "--max-retries", "0", "g1", "6")
	if r.code != exitFailure || !strings.Contains(r.stderr, "500") {
		t.Errorf("500 without retries: exit %d, stderr %q; want 1 naming 500", r.code, r.stderr)
	}
	if seq, _ := srv.ReadState(secretToken, "g1"); seq != "5" {
		t.Errorf("server state %q, want 5", seq)
	}
}

func TestTimeoutExits1(t *testing.T) {
	srv := newServer(t, apitest.WithLatency(time.Hour))
	r := markread(t, tokenEnv(srv), "--timeout", "200ms", "g1", "5")
	if r.code != exitFailure || !strings.Contains(r.stderr, "--timeout") {
		t.Errorf("exit %d, stderr %q; want 1 naming --timeout", r.code, r.stderr)
	}
}

// jsonOutcome mirrors the --json object.
type jsonOutcome struct {
	ConversationID      string        `json:"conversation_id"`
	SeenUntilSequenceID string        `json:"seen_until_sequence_id"`
	Success             bool          `json:"success"`
	Attempts            int           `json:"attempts"`
	Error               string        `json:"error"`
	Status              int           `json:"status"`
	Problems            []api.Problem `json:"problems"`
	RateLimitReset      string        `json:"rate_limit_reset"`
	ExitCode            int           `json:"exit_code"`
	RateLimit           *struct {
		Limit     int    `json:"limit"`
		Remaining int    `json:"remaining"`
		Reset     string `json:"reset"`
	} `json:"rate_limit"`
}

func parseJSON(t *testing.T, stdout string) jsonOutcome {
	t.Helper()
	var out jsonOutcome
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("stdout is not the JSON object: %v\n%s", err, stdout)
	}
	if dec.More() {
		t.Fatalf("stdout holds more than one JSON value:\n%s", stdout)
	}
	return out
}

func TestJSONOutput(t *testing.T) {
	srv := newServer(t, apitest.WithRateLimit(1, time.Hour))

	r := markread(t, tokenEnv(srv), "--json", "1:2", "10")
	out := parseJSON(t, r.stdout)
	if r.code != exitOK || !out.Success || out.ConversationID != "1-2" || out.SeenUntilSequenceID != "10" ||
		out.Attempts != 1 || out.ExitCode != 0 || out.RateLimit == nil || out.RateLimit.Limit != 1 || out.RateLimit.Remaining != 0 {
		t.Errorf("success: exit %d, %+v", r.code, out)
	}

	r = markread(t, tokenEnv(srv), "--json", "1:2", "11")
	out = parseJSON(t, r.stdout)
	reset := srv.RateLimit(secretToken).Reset.UTC().Format(time.RFC3339)
	if r.code != exitRateLimited || out.Success || out.Status != 429 || out.ExitCode != exitRateLimited ||
		out.RateLimitReset != reset || out.Error == "" || len(out.Problems) != 1 {
		t.Errorf("429: exit %d, %+v; want status 429, exit_code 4, rate_limit_reset %s", r.code, out, reset)
	}

	r = markread(t, tokenEnv(srv), "--json", "nope", "11")
	if out := parseJSON(t, r.stdout); r.code != exitUsage || out.ExitCode != exitUsage || !strings.Contains(out.Error, "invalid conversation ID") {
		t.Errorf("invalid ID: exit %d, %+v", r.code, out)
	}
}

func TestHelpDocumentsTheExitCodes(t *testing.T) {
	r := markread(t, nil, "--help")
	if r.code != exitOK {
		t.Errorf("exit %d, want 0", r.code)
	}
	for _, want := range []string{"Exit codes", "0  marked read", "2  usage error", "3  X refused the credentials", "4  rate limited", "X_ACCESS_TOKEN", "--token-file", "markread demo"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--help does not say %q", want)
		}
	}
}

func TestDemo(t *testing.T) {
	r := markread(t, nil, "demo")
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{
		"POST /2/chat/conversations/783214-1587411342381740032/read",
		"Authorization: Bearer [redacted]",
		`{"seen_until_sequence_id":"1940387512345678901"}`,
		"200 OK",
		"x-rate-limit-remaining: 899",
		`{"data":{"success":true}}`,
		"783214-1587411342381740032 is read up to sequence ID 1940387512345678901",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, apitest.DefaultToken) {
		t.Error("demo output shows the token it sent")
	}
}

func TestServe(t *testing.T) {
	srv := startServe(t, nil, "--token", secretToken)

	// The served fake and the binary's own client agree.
	r := markread(t, []string{"X_ACCESS_TOKEN=" + secretToken, "X_API_BASE_URL=" + srv.url}, "g9", "3")
	if r.code != exitOK {
		t.Fatalf("marking against serve: exit %d: %s", r.code, r.stderr)
	}

	stdout, stderr := srv.stop(t)
	if strings.Contains(stderr, secretToken) || strings.Contains(stdout, secretToken) {
		t.Error("serve's output contains the token")
	}
	if !strings.Contains(stderr, `POST "/2/chat/conversations/g9/read" → 200`) {
		t.Errorf("serve did not log the request: %q", stderr)
	}
}

// served is a markread serve the test started.
type served struct {
	url    string
	cmd    *exec.Cmd
	rest   bytes.Buffer // stdout after the first line
	stderr bytes.Buffer
	read   chan struct{} // closed once stdout is read to its end
}

// startServe runs markread serve on a free loopback port, with env added to a clean environment, and
// returns once it has printed its URL.
func startServe(t *testing.T, env []string, args ...string) *served {
	t.Helper()
	s := &served{read: make(chan struct{})}
	s.cmd = exec.Command(binary, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	s.cmd.Env = append(cleanEnviron(), env...)
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Stderr = &s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.cmd.Process.Kill() }) // only if the test fails before stop

	lines := bufio.NewScanner(stdout)
	if !lines.Scan() {
		_ = s.cmd.Wait()
		t.Fatalf("serve printed nothing; stderr %q", s.stderr.String())
	}
	s.url = lines.Text()
	if !strings.HasPrefix(s.url, "http://127.0.0.1:") || strings.Contains(s.url, " ") {
		t.Fatalf("first line %q, want the base URL alone", s.url)
	}
	go func() {
		defer close(s.read)
		for lines.Scan() {
			s.rest.WriteString(lines.Text() + "\n")
		}
	}()
	return s
}

// stop stops serve with SIGINT, as a person would, and returns what it printed.
func (s *served) stop(t *testing.T) (stdout, stderr string) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	<-s.read // the pipe must be read to its end before Wait closes it
	if err := s.cmd.Wait(); err != nil {
		t.Fatalf("serve did not stop cleanly on SIGINT: %v; stderr %q", err, s.stderr.String())
	}
	return s.rest.String(), s.stderr.String()
}

func TestServeRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:0"} {
		if r := markread(t, nil, "serve", "--addr", addr); r.code != exitUsage || !strings.Contains(r.stderr, "loopback") {
			t.Errorf("--addr %s: exit %d, stderr %q; want 2 naming loopback", addr, r.code, r.stderr)
		}
	}
}
