package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/xchat-go/markread/api/apitest"
	"github.com/xchat-go/markread/internal/loopback"
)

const serveUsage = `usage: markread serve [--addr 127.0.0.1:8080] [--token T] [--rate-limit N] [--rate-window D] [--latency D]

Runs the fake X API (package api/apitest) for other programs' tests, until SIGINT or SIGTERM. It validates
every request against markread's OpenAPI spec and answers as X does. It listens on loopback only; port 0
picks a free port. The first line on stdout is the base URL alone (e.g. http://127.0.0.1:41234), for
scripts to read; the lines after it are for people.

Flags:
  --addr ADDR         loopback address to listen on (default 127.0.0.1:8080)
  --token T           the bearer token to accept (default $X_ACCESS_TOKEN, else apitest's test token)
  --rate-limit N      requests allowed per token in each window (default 900)
  --rate-window D     the rate-limit window (default 15m)
  --latency D         delay every answer by D (default 0)

Each request is logged to stderr (method, path, status), never its Authorization header.
`

func runServe(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("markread serve", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "")
	token := fs.String("token", "", "")
	limit := fs.Int("rate-limit", apitest.DefaultRateLimit, "")
	window := fs.Duration("rate-window", apitest.DefaultRateWindow, "")
	latency := fs.Duration("latency", 0, "")
	positional, err := parseInterspersed(fs, args)
	switch {
	case errors.Is(err, errHelp):
		fmt.Fprint(stdout, serveUsage)
		return exitOK
	case err != nil:
		errorLine(stderr, "serve: "+err.Error()+" (markread serve --help)")
		return exitUsage
	case len(positional) > 0:
		errorLine(stderr, "serve takes no arguments (markread serve --help)")
		return exitUsage
	case *limit < 1 || *window <= 0 || *latency < 0:
		errorLine(stderr, "serve: want --rate-limit >= 1, --rate-window > 0 and --latency >= 0")
		return exitUsage
	}
	if host, _, err := net.SplitHostPort(*addr); err != nil || !loopback.Host(host) {
		// The fake accepts a test token and is not meant to be a network service.
		errorLine(stderr, fmt.Sprintf("serve: --addr %q is not a loopback address with a port; the fake server listens on 127.0.0.1, ::1 or localhost only", *addr))
		return exitUsage
	}

	tokenFrom := "--token"
	accepted := strings.TrimSpace(*token)
	if accepted == "" {
		accepted, tokenFrom = strings.TrimSpace(env("X_ACCESS_TOKEN")), "$X_ACCESS_TOKEN"
	}
	if accepted == "" {
		accepted, tokenFrom = apitest.DefaultToken, ""
	}
	if strings.ContainsAny(accepted, " \t\r\n") {
		errorLine(stderr, "serve: the token must be one word")
		return exitUsage
	}

	handler := apitest.NewHandler(apitest.WithTokens(accepted), apitest.WithRateLimit(*limit, *window), apitest.WithLatency(*latency))
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		errorLine(stderr, "serve: "+err.Error())
		return exitFailure
	}
	url := "http://" + ln.Addr().String()
	logged, flushLog := logRequests(handler, stderr)
	srv := &http.Server{Handler: logged, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	fmt.Fprintln(stdout, url) // alone on the first line, for scripts
	if tokenFrom == "" {
		// The default is this package's public test token, so showing it leaks nothing.
		fmt.Fprintf(stdout, "accepting the token %s (choose one with --token or X_ACCESS_TOKEN)\n", accepted)
		fmt.Fprintf(stdout, "try: X_API_BASE_URL=%s X_ACCESS_TOKEN=%s markread g1 5\n", url, accepted)
	} else {
		fmt.Fprintf(stdout, "accepting the token from %s\n", tokenFrom)
	}
	fmt.Fprintln(stdout, "stop with Ctrl-C")

	select {
	case err := <-served:
		_ = srv.Close()
		flushLog()
		errorLine(stderr, "serve: "+err.Error())
		return exitFailure
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		// Requests still in flight (a long --latency): cut them off rather than hang.
		_ = srv.Close()
	}
	flushLog()
	fmt.Fprintln(stderr, "markread serve: stopped")
	return exitOK
}

// logRequests logs one line per request to w: method, path and status, never a header. Lines go through
// a buffer so that a slow terminal does not slow the server; flush waits until they are written.
func logRequests(next http.Handler, w io.Writer) (handler http.Handler, flush func()) {
	logs := make(chan string, 256)
	written := make(chan struct{})
	var mu sync.Mutex // guards closed and sending on logs, so that no send follows close
	closed := false
	go func() {
		defer close(written)
		for line := range logs {
			fmt.Fprintln(w, line)
		}
	}()
	handler = http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		sr := &statusRecorder{ResponseWriter: rw}
		next.ServeHTTP(sr, r)
		status := "dropped"
		if !sr.hijacked {
			if sr.status == 0 {
				sr.status = http.StatusOK
			}
			status = fmt.Sprint(sr.status)
		}
		line := fmt.Sprintf("%s %s %q → %s", time.Now().UTC().Format(time.RFC3339), r.Method, r.URL.Path, status)
		mu.Lock()
		defer mu.Unlock()
		if closed {
			return // a request cut off by a forced shutdown finishing late
		}
		select {
		case logs <- line:
		default: // the buffer is full: drop the line rather than the request's time
		}
	})
	flush = func() {
		mu.Lock()
		closed = true
		close(logs)
		mu.Unlock()
		<-written
	}
	return handler, flush
}

// statusRecorder remembers the status a handler wrote. It passes Hijack through, which the fake's
// dropped-connection faults need.
type statusRecorder struct {
	http.ResponseWriter
	status   int
	hijacked bool
}

func (sr *statusRecorder) WriteHeader(status int) {
	if sr.status == 0 {
		sr.status = status
	}
	sr.ResponseWriter.WriteHeader(status)
}

func (sr *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := sr.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("the connection cannot be taken over")
	}
	sr.hijacked = true
	return hj.Hijack()
}

func (sr *statusRecorder) Unwrap() http.ResponseWriter { return sr.ResponseWriter }
