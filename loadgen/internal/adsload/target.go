package adsload

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/casebook-ml/casebook/adsranking/openrtb"
	"github.com/casebook-ml/casebook/loadgen"
	"github.com/casebook-ml/casebook/loadgen/httptarget"
)

// Error kinds of answers that arrived but are not a usable bid response. Statuses outside
// 2xx are httptarget.StatusError ("http 400", "http 503"), as for every HTTP workload, and
// transport failures keep loadgen.ErrorKind's kinds ("timeout", "connection refused").
const (
	// KindMalformed is a 2xx answer that is not one JSON bid response (an empty body, a
	// syntax error, more than openrtb.DefaultMaxBytes).
	KindMalformed = "ads: malformed response"
	// KindInvalid is a bid response that fails openrtb's BidResponse.Validate (no id, a
	// bid without an impression id or with a negative price, a bid and a no-bid reason).
	KindInvalid = "ads: invalid response"
	// KindMismatch is a valid response that does not answer the request sent: another
	// request's id, a bid for an impression the request did not offer, or below its floor.
	KindMismatch = "ads: response does not match request"
)

// answerError is a failed answer with its report category.
type answerError struct {
	kind string
	err  error
}

func (e *answerError) Error() string { return e.kind + ": " + e.err.Error() }
func (e *answerError) Unwrap() error { return e.err }
func (e *answerError) Kind() string  { return e.kind }

var _ loadgen.KindError = (*answerError)(nil)

// outcome is one row of the answers table: a bid, a no-bid with its reason, a no-bid
// without one (HTTP 204), a status outside 2xx, a response that could not be used, or no
// answer at all.
type outcome struct {
	class outcomeClass
	code  int // the no-bid reason, or the HTTP status
	kind  string
}

type outcomeClass uint8

const (
	classBid outcomeClass = iota
	classNoBid
	classNoContent
	classStatus
	classBad
	classTransport
)

func (o outcome) String() string {
	switch o.class {
	case classBid:
		return "bid"
	case classNoBid:
		r := openrtb.NoBidReason(o.code)
		return fmt.Sprintf("no-bid: %s (nbr %d)", r, o.code)
	case classNoContent:
		return "no-bid: HTTP 204, no reason"
	case classStatus:
		return "http " + strconv.Itoa(o.code)
	case classBad:
		return o.kind
	}
	return "no answer (transport error or timeout)"
}

// Target posts each request's body to the bidder with Go's net/http client and reads the
// whole answer: httptarget's clients discard bodies, and what the bidder said is half of
// what an ad-auction run measures. A bid or a no-bid is a success; a status outside 2xx, an
// answer that is not a valid bid response for the request, or no answer is an error of its
// own kind. Every answer is tallied for the report's notes.
//
// Decoding and checking the answer happens inside Do, so its cost (a few microseconds for
// a small response) is inside the measured latency. That is the price of knowing what the
// answer was; it is small next to a bidder's milliseconds, and the same for every run.
type Target struct {
	cfg     httptarget.Config
	client  *http.Client
	method  string
	header  http.Header // the configured headers, Content-Type included
	imps    func(tag string) []openrtb.Imp
	tmax    time.Duration
	maxBody int64

	mu      sync.Mutex
	counts  map[outcome]int64
	bids    int64 // bids in all bid responses
	slow    int64 // answers that took longer than tmax from their send
	answers int64
	// firstMsg keeps the first message of each error row, so a run that is refused or
	// misanswered says why without a debugger.
	firstMsg map[outcome]string
}

var (
	_ loadgen.Target    = (*Target)(nil)
	_ loadgen.Annotator = (*Target)(nil)
)

// NewTarget checks cfg (its URL, host, connections and headers; Client is ignored, and a
// {{key}} template is refused: every request goes to the one auction URL) and that the
// bidder accepts TCP connections, so an unreachable one is reported (wrapping
// loadgen.ErrUnreachable) before any load. w, when not nil, supplies the placements'
// floors to check bids against and the tmax whose overruns are counted.
func NewTarget(ctx context.Context, cfg httptarget.Config, w *Workload) (*Target, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if strings.Contains(cfg.URL, httptarget.KeyPlaceholder) {
		return nil, fmt.Errorf("%w: the ads target posts to one URL, got the template %q", loadgen.ErrInvalidConfig, cfg.URL)
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("%w: --target %q: %w", loadgen.ErrInvalidConfig, cfg.URL, err)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	d := &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(u.Hostname(), port))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", loadgen.ErrUnreachable, cfg.URL, err)
	}
	_ = conn.Close()
	tr := &http.Transport{
		DialContext:         d.DialContext,
		MaxIdleConns:        cfg.MaxConns,
		MaxIdleConnsPerHost: cfg.MaxConns,
		MaxConnsPerHost:     cfg.MaxConns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	t := &Target{cfg: cfg, method: cfg.Method, header: cfg.Header.Clone(), maxBody: openrtb.DefaultMaxBytes,
		counts: map[outcome]int64{}, firstMsg: map[outcome]string{},
		client: &http.Client{Transport: tr,
			// A redirect is the bidder's answer, not something to follow: it is counted
			// under its status.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}
	if t.method == "" {
		t.method = http.MethodPost
	}
	if t.header == nil {
		t.header = http.Header{}
	}
	if cfg.ContentType != "" {
		t.header.Set("Content-Type", cfg.ContentType)
	}
	t.header.Set("X-Openrtb-Version", "2.6")
	if w != nil {
		t.imps = w.Imps
		t.tmax = time.Duration(w.Tmax()) * time.Millisecond
	}
	return t, nil
}

// Do implements loadgen.Target: it sends req, reads the whole answer and classifies it.
func (t *Target) Do(ctx context.Context, req loadgen.Request) error {
	start := time.Now()
	o, err := t.do(ctx, req)
	t.count(o, err, t.tmax > 0 && o.class != classTransport && time.Since(start) > t.tmax)
	return err
}

func (t *Target) do(ctx context.Context, req loadgen.Request) (outcome, error) {
	hr, err := http.NewRequestWithContext(ctx, t.method, t.cfg.URL, bytes.NewReader(req.Body))
	if err != nil {
		return outcome{class: classTransport}, fmt.Errorf("build request: %w", err)
	}
	// The configured values are shared, not copied: net/http only reads them.
	for k, vs := range t.header {
		hr.Header[k] = vs
	}
	if req.Key != "" && t.cfg.KeyHeader != "" {
		hr.Header.Set(t.cfg.KeyHeader, req.Key)
	}
	resp, err := t.client.Do(hr)
	if err != nil {
		return outcome{class: classTransport}, err
	}
	defer resp.Body.Close()
	switch code := resp.StatusCode; {
	case code == http.StatusNoContent:
		// OpenRTB's other way to say no bid: no body, no reason.
		if err := drain(resp.Body); err != nil {
			return outcome{class: classTransport}, fmt.Errorf("read 204 answer: %w", err)
		}
		return outcome{class: classNoContent}, nil
	case code < 200 || code > 299:
		o := outcome{class: classStatus, code: code}
		err := error(&httptarget.StatusError{Code: code})
		msg, rerr := errorMessage(resp.Body)
		if rerr != nil {
			return outcome{class: classTransport}, fmt.Errorf("read %d answer: %w", code, rerr)
		}
		if msg != "" {
			err = fmt.Errorf("%w: %s", err, msg)
		}
		return o, err
	}
	br, err := openrtb.DecodeResponse(resp.Body, t.maxBody)
	switch {
	case errors.Is(err, openrtb.ErrRead):
		// The answer broke off: a transport failure (a timeout, a reset), whose kind
		// loadgen.ErrorKind finds through the wrapping.
		return outcome{class: classTransport}, err
	case errors.Is(err, openrtb.ErrInvalidResponse):
		return bad(KindInvalid, err)
	case err != nil:
		_ = drain(resp.Body) // after ErrTooLarge, so the connection can be reused
		return bad(KindMalformed, err)
	}
	if err := t.check(br, req); err != nil {
		return bad(KindMismatch, err)
	}
	if r, ok := br.Reason(); ok {
		return outcome{class: classNoBid, code: int(r)}, nil
	}
	if br.Bids() == 0 {
		// Neither bids nor a reason: the spec's "no bid" when the seatbid is empty; count
		// it under nbr 0 (unknown), which is what it tells the exchange.
		return outcome{class: classNoBid, code: int(openrtb.NoBidUnknownError)}, nil
	}
	return outcome{class: classBid, code: br.Bids()}, nil
}

// check holds a valid response against the request it answers: the id always, and the
// impressions and floors when the placement (the request's Key) is known.
func (t *Target) check(br *openrtb.BidResponse, req loadgen.Request) error {
	if req.ID == "" {
		return nil
	}
	var imps []openrtb.Imp
	if br.Bids() > 0 {
		if t.imps != nil {
			imps = t.imps(req.Key)
		}
		if imps == nil {
			// Floors unknown: only the id can be held against the request.
			return (&openrtb.BidResponse{ID: br.ID, Cur: br.Cur}).CheckAgainst(&openrtb.BidRequest{ID: req.ID})
		}
	}
	return br.CheckAgainst(&openrtb.BidRequest{ID: req.ID, Imp: imps})
}

func bad(kind string, err error) (outcome, error) {
	return outcome{class: classBad, kind: kind}, &answerError{kind: kind, err: err}
}

// maxErrorBody bounds how much of a refusal is read for its message.
const maxErrorBody = 4 << 10

// errorMessage reads a refusal ({"error": "..."}, the bidder's 4xx shape) and returns its
// message, or the start of the body when it has another shape.
func errorMessage(r io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxErrorBody))
	if err != nil {
		return "", err
	}
	if err := drain(r); err != nil {
		return "", err
	}
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return e.Error, nil
	}
	return strings.TrimSpace(string(b[:min(len(b), 200)])), nil
}

// drain reads what is left of a body so the connection can carry the next request.
func drain(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}

// count adds one answer to the tally.
func (t *Target) count(o outcome, err error, slow bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.answers++
	t.counts[o.key()]++
	if o.class == classBid {
		t.bids += int64(o.code)
	}
	if slow {
		t.slow++
	}
	if err != nil {
		if _, ok := t.firstMsg[o.key()]; !ok {
			t.firstMsg[o.key()] = detail(err)
		}
	}
}

// detail is what err says beyond its row's name, which the note already gives.
func detail(err error) string {
	var ae *answerError
	if errors.As(err, &ae) {
		return ae.err.Error()
	}
	var se *httptarget.StatusError
	if errors.As(err, &se) {
		if msg := strings.TrimPrefix(strings.TrimPrefix(err.Error(), se.Error()), ": "); msg != "" {
			return msg
		}
		return "(no message)"
	}
	return err.Error()
}

// key is the row an outcome is counted in: bids are one row whatever their number.
func (o outcome) key() outcome {
	if o.class == classBid {
		return outcome{class: classBid}
	}
	return o
}

// Notes implements loadgen.Annotator: every answer by outcome, most frequent first, and
// the first message of each error row.
func (t *Target) Notes() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.answers == 0 {
		return nil
	}
	rows := make([]outcome, 0, len(t.counts))
	for o := range t.counts {
		rows = append(rows, o)
	}
	slices.SortFunc(rows, func(a, b outcome) int {
		if c := cmp.Compare(t.counts[b], t.counts[a]); c != 0 {
			return c
		}
		return strings.Compare(a.String(), b.String())
	})
	parts := make([]string, 0, len(rows))
	for _, o := range rows {
		n := t.counts[o]
		p := fmt.Sprintf("%s %d (%.2f%%)", o, n, 100*float64(n)/float64(t.answers))
		if o.class == classBid {
			p += fmt.Sprintf(", %.2f bids each", float64(t.bids)/float64(n))
		}
		parts = append(parts, p)
	}
	notes := []string{fmt.Sprintf("ads answers (%d): %s", t.answers, strings.Join(parts, "; "))}
	if t.tmax > 0 {
		notes = append(notes, fmt.Sprintf("ads answers slower than tmax (%v) from their actual send, which an exchange would have dropped: %d (%.2f%%); the corrected percentiles count from the intended send",
			t.tmax, t.slow, 100*float64(t.slow)/float64(t.answers)))
	}
	for _, o := range rows {
		if msg, ok := t.firstMsg[o]; ok {
			notes = append(notes, fmt.Sprintf("ads answers, first %s: %s", o, msg))
		}
	}
	notes = append(notes, "ads answers are read with Go's net/http client and decoded inside the timed request (a few µs)")
	return notes
}

// Close implements loadgen.Target.
func (t *Target) Close() error {
	t.client.CloseIdleConnections()
	return nil
}

func (t *Target) String() string { return t.cfg.URL + " (OpenRTB, net/http client, answers decoded)" }
