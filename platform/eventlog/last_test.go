package eventlog_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/eventlog"
)

// LastBySubject returns the newest message on one subject (its id, headers, event time,
// sequence), nil for a subject with none, and ErrStreamNotFound for a missing stream.
func TestLastBySubject(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		ctx, l := ctxT(t), open(t, url)
		name, subj := names(t)
		if _, err := l.EnsureStream(ctx, eventlog.StreamConfig{Name: name, Subjects: []string{subj + ".>"}}); err != nil {
			t.Fatal(err)
		}
		at := time.Date(2018, 4, 1, 0, 0, 0, 0, time.UTC)
		var seqs []uint64
		for i, key := range []string{"a", "b", "a", "c"} {
			ack, err := l.Publish(ctx, eventlog.Event{ID: fmt.Sprintf("e%d", i), Subject: subj + "." + key, Time: at.Add(time.Duration(i) * time.Second),
				Data: []byte{byte(i)}, Header: map[string]string{"X-N": fmt.Sprint(i)}})
			if err != nil {
				t.Fatal(err)
			}
			seqs = append(seqs, ack.Sequence)
		}
		m, err := l.LastBySubject(ctx, name, subj+".a")
		if err != nil {
			t.Fatal(err)
		}
		if m == nil || m.ID != "e2" || m.Sequence != seqs[2] || m.Header["X-N"] != "2" || !m.Time.Equal(at.Add(2*time.Second)) ||
			len(m.Data) != 1 || m.Data[0] != 2 || m.Subject != subj+".a" || m.Stored.IsZero() {
			t.Fatalf("LastBySubject(a) = %+v, want e2 at %d", m, seqs[2])
		}
		if m, err := l.LastBySubject(ctx, name, subj+".none"); err != nil || m != nil {
			t.Fatalf("LastBySubject(none) = %+v, %v; want nil, nil", m, err)
		}
		if _, err := l.LastBySubject(ctx, name+"_MISSING", subj+".a"); !errors.Is(err, eventlog.ErrStreamNotFound) {
			t.Fatalf("LastBySubject on a missing stream = %v, want ErrStreamNotFound", err)
		}
		// A stream deleted after it was looked up (its handle is cached).
		if err := l.DeleteStream(ctx, name); err != nil {
			t.Fatal(err)
		}
		if _, err := l.LastBySubject(ctx, name, subj+".a"); !errors.Is(err, eventlog.ErrStreamNotFound) {
			t.Fatalf("LastBySubject on a deleted stream = %v, want ErrStreamNotFound", err)
		}
	})
}
