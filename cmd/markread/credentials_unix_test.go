//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// --token-file naming a FIFO (or /dev/stdin on a terminal) is refused at once, exit 2 naming the file:
// opening it to read would wait for a writer for ever, past --timeout. Unix only: FIFOs are made with
// syscall.Mkfifo.
func TestMarkRefusesATokenFileThatIsAFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "token.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	type result struct {
		code   int
		stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, _, stderr := runMarkread(t, map[string]string{"X_API_BASE_URL": "http://127.0.0.1:1", "X_CLIENT_ID": "app"}, "--timeout", "50ms", "--token-file", fifo, "g1", "5")
		done <- result{code, stderr}
	}()
	hangGuard := time.NewTimer(10 * time.Second) // a hang guard only: the refusal needs no I/O
	defer hangGuard.Stop()
	select {
	case r := <-done:
		if r.code != exitUsage || !strings.Contains(r.stderr, fifo) || !strings.Contains(r.stderr, "not a regular file") || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("exit %d, stderr %q; want 2 and one line saying the file is not a regular file", r.code, r.stderr)
		}
	case <-hangGuard.C:
		t.Error("markread --token-file FIFO still blocks 10 s after its 50 ms --timeout")
		if w, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil { // unblock it
			_ = w.Close()
		}
		<-done
	}
}
