package scenarios

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/casebook-ml/casebook/platform/cputime"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/casebook-ml/casebook/platform/scenario"
	"github.com/casebook-ml/casebook/recsys/internal/recommend"
	"github.com/casebook-ml/casebook/recsys/internal/server"
)

func serveOn(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { hs.Close() }, nil
}

// timeRequests sends n GETs one after another and returns their latencies, sorted, and the
// process CPU time per request.
func timeRequests(ctx context.Context, c *http.Client, base string, n, users int) ([]time.Duration, time.Duration, error) {
	out := make([]time.Duration, 0, n)
	cpu0 := cputime.Process()
	for i := range n {
		url := fmt.Sprintf("%s/v1/users/%d/recommendations?k=10", base, (i*7919)%users)
		t0 := time.Now()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := c.Do(req)
		if err != nil {
			return nil, 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, 0, fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		out = append(out, time.Since(t0))
	}
	cpu := (cputime.Process() - cpu0) / time.Duration(n)
	slices.Sort(out)
	return out, cpu, nil
}

func pct(ds []time.Duration, p float64) time.Duration {
	return ds[min(len(ds)-1, int(p*float64(len(ds))))]
}

func serving() scenario.Scenario {
	return scenario.Scenario{
		Name:    "recsys/serving",
		Summary: "The recommender over HTTP (gorilla/mux): per-stage timings in Server-Timing, 4xx with a message for bad input, and its latency and CPU per request next to a no-op handler's measured in the same run.",
		Run: func(ctx context.Context, r *scenario.Report) error {
			w, err := getWorld(ctx)
			if err != nil {
				return err
			}
			sys, _, stopSys, err := w.running(ctx)
			if err != nil {
				return err
			}
			defer stopSys()
			preg := prometheus.NewRegistry()
			hc := server.DefaultConfig()
			hc.Gatherer = preg
			srv, err := server.New(sys.Service, hc, nil, preg)
			if err != nil {
				return err
			}
			base, stop, err := serveOn(srv.Handler())
			if err != nil {
				return err
			}
			defer stop()
			items := make([]recommend.Item, 10)
			for i := range items {
				items[i] = recommend.Item{ID: int64(i), Score: 1}
			}
			floorSrv, err := server.New(recommend.Fixed{Items: items}, server.DefaultConfig(), nil, prometheus.NewRegistry())
			if err != nil {
				return err
			}
			floorBase, stopFloor, err := serveOn(floorSrv.Handler())
			if err != nil {
				return err
			}
			defer stopFloor()
			client := &http.Client{Timeout: 5 * time.Second}

			r.Step("One request, as a client sees it")
			resp, err := client.Get(base + "/v1/users/7/recommendations?k=5")
			if err != nil {
				return err
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			st := resp.Header.Get("Server-Timing")
			r.Say("GET /v1/users/7/recommendations?k=5 → %s", resp.Status)
			r.Say("Server-Timing: %s", st)
			r.Say("%s", strings.TrimSpace(string(body)))
			r.Check("200 with the stages in Server-Timing (retrieve, features, rank, rerank, total)", resp.StatusCode == 200 && containsAll(st, "retrieve;dur=", "features;dur=", "rank;dur=", "rerank;dur=", "total;dur="))

			r.Step("Bad input gets a 4xx with a message, never a 5xx")
			bad := 0
			for _, path := range []string{"/v1/users/abc/recommendations", "/v1/users/-3/recommendations", "/v1/users/1/recommendations?k=0", "/v1/users/1/recommendations?k=1000",
				"/v1/users/1/recommendations?diversity=7", "/v1/users/1/recommendations?kk=3", "/v1/nothing"} {
				resp, err := client.Get(base + path)
				if err != nil {
					return err
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				r.Say("%-42s → %d %s", path, resp.StatusCode, strings.TrimSpace(string(b)))
				if resp.StatusCode < 400 || resp.StatusCode >= 500 || !strings.Contains(string(b), "error") {
					bad++
				}
			}
			r.Check("every malformed request is a 4xx with an error message", bad == 0)

			r.Step("Latency and CPU per request, one request at a time, against a no-op handler on the same path")
			const n = 2000
			if _, _, err := timeRequests(ctx, client, base, 200, worldConfig().Users); err != nil { // warm up
				return err
			}
			floorLat, floorCPU, err := timeRequests(ctx, client, floorBase, n, worldConfig().Users)
			if err != nil {
				return err
			}
			lat, cpu, err := timeRequests(ctx, client, base, n, worldConfig().Users)
			if err != nil {
				return err
			}
			r.Say("no-op handler: p50 %v, p99 %v, CPU %v per request (client and server, one process)", pct(floorLat, .5).Round(time.Microsecond), pct(floorLat, .99).Round(time.Microsecond), floorCPU.Round(time.Microsecond))
			r.Say("recommender:   p50 %v, p99 %v, CPU %v per request", pct(lat, .5).Round(time.Microsecond), pct(lat, .99).Round(time.Microsecond), cpu.Round(time.Microsecond))
			r.Measure("p50", pct(lat, .5).Seconds()*1000, "ms")
			r.Measure("p99", pct(lat, .99).Seconds()*1000, "ms")
			r.Measure("CPU per request", cpu.Seconds()*1000, "ms")
			r.Measure("no-op p99", pct(floorLat, .99).Seconds()*1000, "ms")
			r.Measure("no-op CPU per request", floorCPU.Seconds()*1000, "ms")
			r.CheckTiming(fmt.Sprintf("p99 %v within 10 ms above the no-op floor's %v", pct(lat, .99).Round(time.Microsecond), pct(floorLat, .99).Round(time.Microsecond)),
				pct(lat, .99)-pct(floorLat, .99) <= 10*time.Millisecond)
			if errors.Is(ctx.Err(), context.Canceled) {
				return ctx.Err()
			}
			return nil
		},
	}
}
