package testenv

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// fakeRunner stands in for *testing.M.
type fakeRunner struct {
	code int
	ran  bool
}

func (r *fakeRunner) Run() int { r.ran = true; return r.code }

func TestRunWithoutDocker(t *testing.T) {
	noDocker := func(context.Context) error {
		return fmt.Errorf("dial unix /nonexistent.sock: connect: no such file or directory")
	}
	tests := []struct {
		name     string
		vars     map[string]string
		want     Services
		code     int // what the tests return
		wantCode int
		wantRan  bool
		wantErr  string // substring of stderr; "" means stderr must be empty
	}{
		{
			name: "laptop skips", want: Services{NATS: true}, code: 0,
			wantCode: 0, wantRan: true,
			wantErr: "testenv: integration tests skipped: no Docker engine answered (dial unix /nonexistent.sock: connect: no such file or directory); set up Docker, see docs/testing.md\n",
		},
		{
			name: "laptop keeps failing unit tests", want: Services{Redis: true}, code: 1,
			wantCode: 1, wantRan: true, wantErr: "integration tests skipped",
		},
		{
			name: "CI fails", vars: map[string]string{"CI": "true"}, want: Services{NATS: true, Redis: true},
			wantCode: 1, wantRan: false, wantErr: "CI=true, so this is a failure",
		},
		{
			name: "no services needs no Docker", vars: map[string]string{"CI": "true"},
			wantCode: 0, wantRan: true,
		},
		{
			name: "bad network setting", vars: map[string]string{"CASEBOOK_TEST_NETWORK": "nope"}, want: Services{NATS: true},
			wantCode: 1, wantRan: false, wantErr: "CASEBOOK_TEST_NETWORK",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr strings.Builder
			r := &fakeRunner{code: tt.code}
			var e *Env
			got := run(t.Context(), r, tt.want, &e, runDeps{
				getenv: func(k string) string { return tt.vars[k] },
				stderr: &stderr,
				probe:  noDocker,
			})
			if got != tt.wantCode || r.ran != tt.wantRan {
				t.Errorf("run() = %d (tests ran: %v), want %d (tests ran: %v)", got, r.ran, tt.wantCode, tt.wantRan)
			}
			switch {
			case tt.wantErr == "" && stderr.Len() != 0:
				t.Errorf("run() wrote %q to stderr, want nothing", stderr.String())
			case !strings.Contains(stderr.String(), tt.wantErr):
				t.Errorf("run() wrote %q to stderr, want it to contain %q", stderr.String(), tt.wantErr)
			case strings.Count(stderr.String(), "\n") > 1:
				t.Errorf("run() wrote %d lines to stderr, want at most one", strings.Count(stderr.String(), "\n"))
			}
		})
	}
}

// recordingTB records the first Skip or Fatal and stops the calling goroutine,
// as testing.T does.
type recordingTB struct {
	testing.TB
	skipped, failed string
}

func (r *recordingTB) Helper() {}
func (r *recordingTB) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recordingTB) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestEnvAccessorRules(t *testing.T) {
	unavailable := &Env{want: Services{NATS: true}, reason: "no Docker engine answered (boom)"}
	tests := []struct {
		name        string
		env         *Env
		call        func(*Env, testing.TB) string
		wantSkipped string
		wantFailed  string
	}{
		{name: "nil env", env: nil, call: (*Env).NATSURL, wantFailed: "Env is nil"},
		{name: "skip when unavailable", env: unavailable, call: (*Env).NATSURL, wantSkipped: "no Docker engine answered (boom)"},
		{name: "fail when not requested, even if unavailable", env: unavailable, call: (*Env).RedisAddr, wantFailed: "Redis was not requested"},
		{name: "fail when NATS not requested", env: &Env{want: Services{Redis: true}}, call: (*Env).NATSURL, wantFailed: "NATS was not requested"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recordingTB{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				tt.call(tt.env, rec)
			}()
			<-done
			if !strings.Contains(rec.skipped, tt.wantSkipped) || (tt.wantSkipped == "") != (rec.skipped == "") {
				t.Errorf("skip message = %q, want %q", rec.skipped, tt.wantSkipped)
			}
			if !strings.Contains(rec.failed, tt.wantFailed) || (tt.wantFailed == "") != (rec.failed == "") {
				t.Errorf("fatal message = %q, want %q", rec.failed, tt.wantFailed)
			}
		})
	}
}

func TestAvailable(t *testing.T) {
	tests := []struct {
		name       string
		env        *Env
		wantOK     bool
		wantReason string
	}{
		{name: "nil", env: nil, wantOK: false, wantReason: "testenv.Run was not called from TestMain"},
		{name: "running", env: &Env{}, wantOK: true},
		{name: "no docker", env: &Env{reason: "no Docker engine answered (x)"}, wantOK: false, wantReason: "no Docker engine answered (x)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, reason := tt.env.Available()
			if ok != tt.wantOK || reason != tt.wantReason {
				t.Errorf("Available() = (%v, %q), want (%v, %q)", ok, reason, tt.wantOK, tt.wantReason)
			}
		})
	}
}
