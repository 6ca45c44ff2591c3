package pipeline

import (
	"context"
	"time"
)

// TriggerKind says why a run started.
type TriggerKind string

// The trigger kinds.
const (
	OnDemand TriggerKind = "on-demand"
	Schedule TriggerKind = "schedule"
	Alert    TriggerKind = "alert"
)

// Trigger starts a run. Monitoring sends Alert triggers (for example, drift on a feature)
// on a channel that Serve reads.
type Trigger struct {
	Kind   TriggerKind `json:"kind"`
	Reason string      `json:"reason"`
	At     time.Time   `json:"at"`
}

// Every sends a Schedule trigger every interval until ctx ends.
func Every(ctx context.Context, interval time.Duration) <-chan Trigger {
	ch := make(chan Trigger)
	go func() {
		defer close(ch)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				select {
				case ch <- Trigger{Kind: Schedule, Reason: "every " + interval.String(), At: now.UTC()}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return ch
}

// Serve runs the pipeline once per trigger received on any of the channels, one run at a
// time, until ctx ends or every channel is closed. Each result (or error) goes to report;
// a failed run does not stop the loop, since the next trigger may find the cause gone.
func (p *Pipeline) Serve(ctx context.Context, report func(Result, error), triggers ...<-chan Trigger) error {
	merged := make(chan Trigger)
	done := make(chan struct{}, len(triggers))
	open := len(triggers)
	if open == 0 {
		return nil
	}
	for _, ch := range triggers {
		go func() {
			defer func() { done <- struct{}{} }()
			for t := range ch {
				select {
				case merged <- t:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-done:
			open--
			if open == 0 {
				return nil
			}
		case t := <-merged:
			if t.At.IsZero() {
				t.At = time.Now().UTC()
			}
			res, err := p.Run(ctx, t)
			if err != nil {
				p.log.Error("run failed", "trigger", t.Kind, "err", err)
			}
			if report != nil {
				report(res, err)
			}
		}
	}
}
