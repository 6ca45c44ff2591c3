package adsload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/adsranking/openrtb"
	"github.com/casebook-ml/casebook/loadgen"
	"github.com/casebook-ml/casebook/loadgen/httptarget"
)

// answer writes the fake bidder's answer to a decoded request.
type answer func(w http.ResponseWriter, req *openrtb.BidRequest)

func writeJSON(status int, v any) answer {
	return func(w http.ResponseWriter, req *openrtb.BidRequest) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
}

func raw(status int, body string) answer {
	return func(w http.ResponseWriter, _ *openrtb.BidRequest) {
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

// bid answers one bid on the request's first impression at floor + delta, as impid.
func bid(impid string, delta float64) answer {
	return func(w http.ResponseWriter, req *openrtb.BidRequest) {
		if impid == "" {
			impid = req.Imp[0].ID
		}
		resp := openrtb.BidResponse{ID: req.ID, Cur: "USD", SeatBid: []openrtb.SeatBid{{Bid: []openrtb.Bid{
			{ID: req.ID + "-1", ImpID: impid, Price: req.Imp[0].BidFloor + delta, W: 300, H: 250}}}}}
		writeJSON(http.StatusOK, resp)(w, req)
	}
}

func noBid(reason openrtb.NoBidReason) answer {
	return func(w http.ResponseWriter, req *openrtb.BidRequest) {
		writeJSON(http.StatusOK, openrtb.NoBid(req.ID, reason))(w, req)
	}
}

// fakeBidder decodes every request as the bidder does, refusing invalid ones with 400 (so
// a bad request from the workload fails the test), and answers with whatever answer is
// current.
func fakeBidder(t *testing.T) (url string, set func(answer)) {
	t.Helper()
	var mu sync.Mutex
	var current answer
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := openrtb.Decode(r.Body, openrtb.DefaultMaxBytes)
		if err != nil {
			t.Errorf("the fake bidder could not decode a request: %v", err)
			writeJSON(openrtb.StatusFor(err), map[string]string{"error": err.Error()})(w, nil)
			return
		}
		mu.Lock()
		a := current
		mu.Unlock()
		a(w, req)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func(a answer) { mu.Lock(); current = a; mu.Unlock() }
}

func newTarget(t *testing.T, url string, w *Workload) *Target {
	t.Helper()
	hc := httptarget.DefaultConfig()
	hc.URL = url + AuctionPath
	tg, err := NewTarget(context.Background(), hc, w)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.Close() })
	return tg
}

// TestTargetClassifies: every kind of answer lands in its own row, and in the report's
// error kinds when it is not a bid or a no-bid.
func TestTargetClassifies(t *testing.T) {
	w := newSmall(t, func(c *Config) { c.Pool = 100 })
	url, set := fakeBidder(t)
	tg := newTarget(t, url, w)
	hijackClose := func(w http.ResponseWriter, _ *openrtb.BidRequest) {
		c, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			_ = c.Close()
		}
	}
	tests := []struct {
		name     string
		answer   answer
		wantKind string // "" for a success
		wantRow  string
	}{
		{"bid", bid("", 0.5), "", "bid"},
		{"bid at the floor", bid("", 0), "", "bid"},
		{"no-bid, paced out", noBid(openrtb.NoBidPacedOut), "", "no-bid: paced out (nbr 503)"},
		{"no-bid, no candidates", noBid(openrtb.NoBidNoCandidates), "", "no-bid: no eligible candidates (nbr 500)"},
		{"no-bid, unknown code", noBid(777), "", "no-bid: exchange-specific reason 777 (nbr 777)"},
		{"no-bid, empty seatbid", writeJSONWithID(`{"id":%q}`), "", "no-bid: unknown error (nbr 0)"},
		{"204", raw(http.StatusNoContent, ""), "", "no-bid: HTTP 204, no reason"},
		{"400 with a message", writeJSON(http.StatusBadRequest, map[string]string{"error": "openrtb: invalid bid request: imp: nope"}), "http 400", "http 400"},
		{"413", writeJSON(http.StatusRequestEntityTooLarge, map[string]string{"error": "too large"}), "http 413", "http 413"},
		{"503 in plain text", raw(http.StatusServiceUnavailable, "overloaded"), "http 503", "http 503"},
		{"redirect", raw(http.StatusFound, ""), "http 302", "http 302"},
		{"garbage", raw(http.StatusOK, "<html>not json</html>"), KindMalformed, KindMalformed},
		{"empty 200", raw(http.StatusOK, ""), KindMalformed, KindMalformed},
		{"truncated", raw(http.StatusOK, `{"id":"r1","nbr":`), KindMalformed, KindMalformed},
		{"negative price", bid("", -1e9), KindInvalid, KindInvalid},
		{"no id", raw(http.StatusOK, `{"nbr":500}`), KindInvalid, KindInvalid},
		{"another request's id", raw(http.StatusOK, `{"id":"r99999999999999999999","nbr":500}`), KindMismatch, KindMismatch},
		{"below the floor", bid("", -0.01), KindMismatch, KindMismatch},
		{"impression not offered", bid("9", 1), KindMismatch, KindMismatch},
		{"connection closed", hijackClose, "", "no answer (transport error or timeout)"},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rows := map[string]int{}
	for _, tc := range tests {
		set(tc.answer)
		err := tg.Do(context.Background(), w.Next(rng))
		rows[tc.wantRow]++
		switch {
		case tc.wantRow == "no answer (transport error or timeout)":
			if err == nil {
				t.Errorf("%s: Do() = nil, want a transport error", tc.name)
			}
		case tc.wantKind == "" && err != nil:
			t.Errorf("%s: Do() = %v, want nil", tc.name, err)
		case tc.wantKind != "" && loadgen.ErrorKind(err) != tc.wantKind:
			t.Errorf("%s: ErrorKind(Do()) = %q (%v), want %q", tc.name, loadgen.ErrorKind(err), err, tc.wantKind)
		}
	}
	notes := strings.Join(tg.Notes(), "\n")
	if want := fmt.Sprintf("ads answers (%d): ", len(tests)); !strings.Contains(notes, want) {
		t.Errorf("Notes() = %q, want it to start the table with %q", notes, want)
	}
	for row, n := range rows {
		if want := fmt.Sprintf("%s %d (", row, n); !strings.Contains(notes, want) {
			t.Errorf("Notes() lacks %q:\n%s", want, notes)
		}
	}
	for _, want := range []string{
		"bid 2 (10.00%), 1.00 bids each",
		"first http 400: openrtb: invalid bid request: imp: nope",
		"first http 503: overloaded",
		"first http 302: (no message)",
		"first " + KindMismatch + `: openrtb: invalid bid response: id: "r99999999999999999999", want the request's "r`,
		"first " + KindMalformed + ": openrtb: malformed JSON: ",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("Notes() lacks %q:\n%s", want, notes)
		}
	}
}

// writeJSONWithID answers format filled with the request's id.
func writeJSONWithID(format string) answer {
	return func(w http.ResponseWriter, req *openrtb.BidRequest) {
		raw(http.StatusOK, fmt.Sprintf(format, req.ID))(w, req)
	}
}

// TestTargetTimeoutAndUnreachable: a request whose context ends is a timeout, not a
// malformed answer; an unreachable bidder, a URL template and a non-loopback host are
// refused before any load.
func TestTargetTimeoutAndUnreachable(t *testing.T) {
	w := newSmall(t, func(c *Config) { c.Pool = 10 })
	url, set := fakeBidder(t)
	tg := newTarget(t, url, w)
	release := make(chan struct{})
	set(func(w http.ResponseWriter, req *openrtb.BidRequest) {
		<-release
		noBid(openrtb.NoBidPacedOut)(w, req)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	err := tg.Do(ctx, w.Next(rand.New(rand.NewPCG(1, 2))))
	cancel()
	close(release)
	if got := loadgen.ErrorKind(err); got != loadgen.KindTimeout {
		t.Errorf("ErrorKind(Do(past its deadline)) = %q (%v), want %q", got, err, loadgen.KindTimeout)
	}

	hc := httptarget.DefaultConfig()
	hc.URL = "http://127.0.0.1:1" + AuctionPath
	if _, err := NewTarget(context.Background(), hc, w); !errors.Is(err, loadgen.ErrUnreachable) {
		t.Errorf("NewTarget(port 1) = %v, want ErrUnreachable", err)
	}
	hc.URL = url + "/{{key}}" + AuctionPath
	if _, err := NewTarget(context.Background(), hc, w); !errors.Is(err, loadgen.ErrInvalidConfig) {
		t.Errorf("NewTarget(a {{key}} template) = %v, want ErrInvalidConfig", err)
	}
	hc.URL = "http://10.1.2.3:8090" + AuctionPath
	if _, err := NewTarget(context.Background(), hc, w); !errors.Is(err, loadgen.ErrHostNotAllowed) {
		t.Errorf("NewTarget(10.1.2.3) = %v, want ErrHostNotAllowed", err)
	}
}

// TestTargetWithoutWorkload: with no workload to supply floors, bids are held to the
// request's id only, and no tmax overruns are counted.
func TestTargetWithoutWorkload(t *testing.T) {
	w := newSmall(t, func(c *Config) { c.Pool = 10 })
	url, set := fakeBidder(t)
	hc := httptarget.DefaultConfig()
	hc.URL = url + AuctionPath
	tg, err := NewTarget(context.Background(), hc, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name     string
		answer   answer
		wantKind string
	}{
		{"below the floor", bid("", -0.01), ""},
		{"impression not offered", bid("9", 1), ""},
		{"another request's id", raw(http.StatusOK, `{"id":"r7","seatbid":[{"bid":[{"id":"b","impid":"1","price":1}]}]}`), KindMismatch},
	}
	for _, tc := range tests {
		set(tc.answer)
		err := tg.Do(context.Background(), w.Next(rng))
		if got := loadgen.ErrorKind(err); (err == nil) != (tc.wantKind == "") || (err != nil && got != tc.wantKind) {
			t.Errorf("%s: Do() = %v (kind %q), want kind %q", tc.name, err, got, tc.wantKind)
		}
	}
	if notes := strings.Join(tg.Notes(), "\n"); strings.Contains(notes, "slower than tmax") {
		t.Errorf("Notes() = %q, want no tmax note without a workload", notes)
	}
}
