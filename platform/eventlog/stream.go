package eventlog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Retention says when the server may delete stored events.
type Retention int

const (
	// LimitsRetention keeps events until a limit (age, bytes, count) removes the oldest.
	// This is what an event log wants: reading does not delete.
	LimitsRetention Retention = iota
	// InterestRetention keeps an event until every consumer has acked it.
	InterestRetention
	// WorkQueueRetention deletes an event once one consumer has acked it.
	WorkQueueRetention
)

func (r Retention) String() string {
	switch r {
	case LimitsRetention:
		return "limits"
	case InterestRetention:
		return "interest"
	case WorkQueueRetention:
		return "workqueue"
	}
	return fmt.Sprintf("Retention(%d)", int(r))
}

// Storage says where the server keeps a stream.
type Storage int

const (
	// FileStorage survives a server restart.
	FileStorage Storage = iota
	// MemoryStorage is faster and lost on restart.
	MemoryStorage
)

func (s Storage) String() string {
	switch s {
	case FileStorage:
		return "file"
	case MemoryStorage:
		return "memory"
	}
	return fmt.Sprintf("Storage(%d)", int(s))
}

// StreamConfig declares a stream as code. Only these fields are managed; anything else keeps
// the server's default.
type StreamConfig struct {
	Name        string
	Description string
	Subjects    []string
	Retention   Retention
	Storage     Storage
	// MaxAge is how long events are kept; zero keeps them forever.
	MaxAge time.Duration
	// MaxBytes caps the stream's size; zero or below means no cap.
	MaxBytes int64
	// MaxMsgSize caps one message (payload and headers), in bytes; zero means the server's
	// max payload.
	MaxMsgSize int32
	// Duplicates is the window in which an event id already seen makes a publish a no-op.
	// It must cover the longest time a producer may retry. Zero means two minutes.
	Duplicates time.Duration
	// Replicas is the number of copies in a cluster; zero means one.
	Replicas int
}

// DefaultDuplicates is the deduplication window when a StreamConfig leaves it zero.
const DefaultDuplicates = 2 * time.Minute

func (c StreamConfig) withDefaults() StreamConfig {
	if c.Duplicates == 0 {
		c.Duplicates = DefaultDuplicates
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = -1
	}
	if c.MaxMsgSize == 0 {
		c.MaxMsgSize = -1
	}
	return c
}

// Validate checks the config without a server, naming every problem it finds.
func (c StreamConfig) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("stream name is empty"))
	} else if strings.ContainsAny(c.Name, " \t\r\n.*>/\\") {
		errs = append(errs, fmt.Errorf("stream name %q may not contain whitespace, '.', '*', '>', '/' or '\\'", c.Name))
	}
	if len(c.Subjects) == 0 {
		errs = append(errs, fmt.Errorf("stream %q has no subjects", c.Name))
	}
	for _, s := range c.Subjects {
		if err := validSubject(s); err != nil {
			errs = append(errs, fmt.Errorf("stream %q: %w", c.Name, err))
		}
	}
	if c.MaxAge < 0 {
		errs = append(errs, fmt.Errorf("stream %q: MaxAge must not be negative, got %v", c.Name, c.MaxAge))
	}
	if c.Duplicates < 0 {
		errs = append(errs, fmt.Errorf("stream %q: Duplicates must not be negative, got %v", c.Name, c.Duplicates))
	}
	if d := c.withDefaults().Duplicates; c.MaxAge > 0 && d > c.MaxAge {
		errs = append(errs, fmt.Errorf("stream %q: duplicates window %v is longer than MaxAge %v: ids would be forgotten after their events", c.Name, d, c.MaxAge))
	}
	if c.Replicas < 0 || c.Replicas > 5 {
		errs = append(errs, fmt.Errorf("stream %q: Replicas must be between 1 and 5, got %d", c.Name, c.Replicas))
	}
	if c.Retention < LimitsRetention || c.Retention > WorkQueueRetention {
		errs = append(errs, fmt.Errorf("stream %q: unknown retention %v", c.Name, c.Retention))
	}
	if c.Storage < FileStorage || c.Storage > MemoryStorage {
		errs = append(errs, fmt.Errorf("stream %q: unknown storage %v", c.Name, c.Storage))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}

func validSubject(s string) error {
	if s == "" {
		return errors.New("empty subject")
	}
	tokens := strings.Split(s, ".")
	for i, t := range tokens {
		switch {
		case t == "":
			return fmt.Errorf("subject %q has an empty token", s)
		case strings.ContainsAny(t, " \t\r\n"):
			return fmt.Errorf("subject %q contains whitespace", s)
		case t == ">" && i != len(tokens)-1:
			return fmt.Errorf("subject %q: '>' must be the last token", s)
		case len(t) > 1 && strings.ContainsAny(t, "*>"):
			return fmt.Errorf("subject %q: wildcards must be whole tokens", s)
		}
	}
	return nil
}

func (c StreamConfig) jetstream() jetstream.StreamConfig {
	c = c.withDefaults()
	return jetstream.StreamConfig{
		Name:        c.Name,
		Description: c.Description,
		Subjects:    slices.Clone(c.Subjects),
		Retention:   map[Retention]jetstream.RetentionPolicy{LimitsRetention: jetstream.LimitsPolicy, InterestRetention: jetstream.InterestPolicy, WorkQueueRetention: jetstream.WorkQueuePolicy}[c.Retention],
		Storage:     map[Storage]jetstream.StorageType{FileStorage: jetstream.FileStorage, MemoryStorage: jetstream.MemoryStorage}[c.Storage],
		MaxAge:      c.MaxAge,
		MaxBytes:    c.MaxBytes,
		MaxMsgSize:  c.MaxMsgSize,
		MaxMsgs:     -1,
		Duplicates:  c.Duplicates,
		Replicas:    c.Replicas,
	}
}

// diff lists the managed fields in which the server's config differs from the wanted one.
func diff(have, want jetstream.StreamConfig) []string {
	var d []string
	add := func(field string, h, w any) {
		d = append(d, fmt.Sprintf("%s: %v on the server, %v wanted", field, h, w))
	}
	if have.Description != want.Description {
		add("description", fmt.Sprintf("%q", have.Description), fmt.Sprintf("%q", want.Description))
	}
	hs, ws := slices.Sorted(slices.Values(have.Subjects)), slices.Sorted(slices.Values(want.Subjects))
	if !slices.Equal(hs, ws) {
		add("subjects", hs, ws)
	}
	if have.Retention != want.Retention {
		add("retention", have.Retention, want.Retention)
	}
	if have.Storage != want.Storage {
		add("storage", have.Storage, want.Storage)
	}
	if have.MaxAge != want.MaxAge {
		add("max age", have.MaxAge, want.MaxAge)
	}
	if have.MaxBytes != want.MaxBytes {
		add("max bytes", have.MaxBytes, want.MaxBytes)
	}
	if have.MaxMsgSize != want.MaxMsgSize {
		add("max message size", have.MaxMsgSize, want.MaxMsgSize)
	}
	if have.Duplicates != want.Duplicates {
		add("duplicates window", have.Duplicates, want.Duplicates)
	}
	if have.Replicas != want.Replicas {
		add("replicas", have.Replicas, want.Replicas)
	}
	return d
}

// ConflictError lists how an existing stream differs from the config asked for.
type ConflictError struct {
	Stream      string
	Differences []string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("stream %q exists with a different config (%s); nothing was changed: call UpdateStream to apply it on purpose",
		e.Stream, strings.Join(e.Differences, "; "))
}

// Is makes errors.Is(err, ErrStreamConfigConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrStreamConfigConflict }

// StreamInfo is what the server says about a stream.
type StreamInfo struct {
	Name     string
	Messages uint64
	Bytes    uint64
	FirstSeq uint64
	LastSeq  uint64
	Created  bool // true when EnsureStream created it
}

func streamInfo(si *jetstream.StreamInfo, created bool) StreamInfo {
	return StreamInfo{
		Name:     si.Config.Name,
		Messages: si.State.Msgs,
		Bytes:    si.State.Bytes,
		FirstSeq: si.State.FirstSeq,
		LastSeq:  si.State.LastSeq,
		Created:  created,
	}
}

// EnsureStream creates the stream if it is missing. If it exists with the same config it
// does nothing; if it exists with a different config it changes nothing and returns a
// *ConflictError naming the differences.
func (l *Log) EnsureStream(ctx context.Context, cfg StreamConfig) (StreamInfo, error) {
	if err := cfg.Validate(); err != nil {
		return StreamInfo{}, err
	}
	ctx, cancel := l.withTimeout(ctx)
	defer cancel()
	want := cfg.jetstream()
	s, err := l.js.Stream(ctx, cfg.Name)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		s, err = l.js.CreateStream(ctx, want)
		if err != nil {
			return StreamInfo{}, fmt.Errorf("create stream %q: %w", cfg.Name, err)
		}
		return streamInfo(s.CachedInfo(), true), nil
	case err != nil:
		return StreamInfo{}, fmt.Errorf("look up stream %q: %w", cfg.Name, err)
	}
	info := s.CachedInfo()
	if d := diff(info.Config, want); len(d) > 0 {
		return streamInfo(info, false), &ConflictError{Stream: cfg.Name, Differences: d}
	}
	return streamInfo(info, false), nil
}

// UpdateStream applies a changed config to an existing stream. The server refuses some
// changes (storage type, for one); its reason is returned.
func (l *Log) UpdateStream(ctx context.Context, cfg StreamConfig) (StreamInfo, error) {
	if err := cfg.Validate(); err != nil {
		return StreamInfo{}, err
	}
	ctx, cancel := l.withTimeout(ctx)
	defer cancel()
	s, err := l.js.UpdateStream(ctx, cfg.jetstream())
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return StreamInfo{}, fmt.Errorf("update stream %q: %w", cfg.Name, ErrStreamNotFound)
	}
	if err != nil {
		return StreamInfo{}, fmt.Errorf("update stream %q: %w", cfg.Name, err)
	}
	return streamInfo(s.CachedInfo(), false), nil
}

// Stream returns the current state of a stream.
func (l *Log) Stream(ctx context.Context, name string) (StreamInfo, error) {
	ctx, cancel := l.withTimeout(ctx)
	defer cancel()
	s, err := l.js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return StreamInfo{}, fmt.Errorf("stream %q: %w", name, ErrStreamNotFound)
	}
	if err != nil {
		return StreamInfo{}, fmt.Errorf("stream %q: %w", name, err)
	}
	return streamInfo(s.CachedInfo(), false), nil
}

// DeleteStream removes a stream and everything in it.
func (l *Log) DeleteStream(ctx context.Context, name string) error {
	ctx, cancel := l.withTimeout(ctx)
	defer cancel()
	err := l.js.DeleteStream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("delete stream %q: %w", name, ErrStreamNotFound)
	}
	if err != nil {
		return fmt.Errorf("delete stream %q: %w", name, err)
	}
	return nil
}
