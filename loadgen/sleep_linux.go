//go:build linux

package loadgen

import (
	"context"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// timerfdSleeper sleeps on a Linux timerfd read through the netpoller.
type timerfdSleeper struct {
	fd  int
	f   *os.File
	buf [8]byte
}

func newSleeper() sleeper {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return newTimerSleeper()
	}
	// A non-blocking descriptor makes os.NewFile register it with the netpoller, so a
	// Read parks only this goroutine.
	return &timerfdSleeper{fd: fd, f: os.NewFile(uintptr(fd), "loadgen-pacer-timerfd")}
}

func (s *timerfdSleeper) sleepUntil(ctx context.Context, now func() time.Duration, at time.Duration) bool {
	for {
		d := at - now()
		if d <= 0 {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		// A zero it_value would disarm the timer and the read would never return.
		d = max(min(d, maxSleepChunk), time.Microsecond)
		spec := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(d))}
		if err := unix.TimerfdSettime(s.fd, 0, &spec, nil); err != nil {
			return newTimerSleeper().sleepUntil(ctx, now, at)
		}
		if _, err := s.f.Read(s.buf[:]); err != nil {
			return newTimerSleeper().sleepUntil(ctx, now, at)
		}
	}
}

func (s *timerfdSleeper) close() { _ = s.f.Close() }
