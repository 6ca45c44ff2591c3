package console

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/mux"

	"github.com/casebook-ml/casebook/platform/scenario"
)

// A scenario runs on its own temporary directories and event log streams, never on the
// registry the console shows, so any key (read-only included) may start one. One runs at
// a time: a second start while one runs is refused with 409, which keeps a shared machine
// from being swamped from a browser.

// run is one scenario run: its lines so far and whether it ended.
type run struct {
	ID, Name string
	Started  time.Time
	mu       sync.Mutex
	lines    []scenario.Line
	done     bool
	result   scenario.Result
	changed  chan struct{} // closed and replaced on every new line
}

func (r *run) add(l scenario.Line) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, l)
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *run) finish(res scenario.Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done, r.result = true, res
	close(r.changed)
	r.changed = make(chan struct{})
}

// since returns the lines from i on, whether the run ended, and a channel closed on the
// next change.
func (r *run) since(i int) ([]scenario.Line, bool, scenario.Result, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]scenario.Line(nil), r.lines[min(i, len(r.lines)):]...), r.done, r.result, r.changed
}

type runs struct {
	mu      sync.Mutex
	byID    map[string]*run
	running *run
	order   []string
	stop    chan struct{} // closed by Close: the running scenario's context ends
	wg      sync.WaitGroup
	closed  bool
}

// keepRuns is how many finished runs the console remembers.
const keepRuns = 20

func (c *Console) scenariosPage(w http.ResponseWriter, r *http.Request, p principal) error {
	start := time.Now()
	c.runs.mu.Lock()
	var recent []*run
	for i := len(c.runs.order) - 1; i >= 0; i-- {
		recent = append(recent, c.runs.byID[c.runs.order[i]])
	}
	busy := c.runs.running != nil
	c.runs.mu.Unlock()
	data := struct {
		Set    scenario.Set
		Recent []*run
		Busy   bool
	}{c.cfg.Scenarios, recent, busy}
	return c.show(w, "scenarios", start, page{Title: "Scenarios", Who: p, Open: c.cfg.OpenRead, Data: data})
}

// startRun starts the named scenario in the background and redirects to its page.
func (c *Console) startRun(w http.ResponseWriter, r *http.Request, p principal) error {
	if err := r.ParseForm(); err != nil {
		return errorf(http.StatusBadRequest, "unreadable form: %v", err)
	}
	name := r.PostForm.Get("name")
	if _, ok := c.cfg.Scenarios.Find(name); !ok {
		return errorf(http.StatusNotFound, "no scenario %q", name)
	}
	c.runs.mu.Lock()
	if c.runs.closed {
		c.runs.mu.Unlock()
		return errorf(http.StatusServiceUnavailable, "the console is shutting down")
	}
	if c.runs.running != nil {
		busy := c.runs.running.Name
		c.runs.mu.Unlock()
		return errorf(http.StatusConflict, "scenario %s is running: one at a time", busy)
	}
	ru := &run{ID: randomToken()[:16], Name: name, Started: c.cfg.Now(), changed: make(chan struct{})}
	c.runs.byID[ru.ID] = ru
	c.runs.order = append(c.runs.order, ru.ID)
	if len(c.runs.order) > keepRuns {
		delete(c.runs.byID, c.runs.order[0])
		c.runs.order = c.runs.order[1:]
	}
	c.runs.running = ru
	c.runs.wg.Add(1)
	c.runs.mu.Unlock()
	c.log.Info("scenario started", "scenario", name, "by", p.Tenant)
	go func() {
		defer c.runs.wg.Done()
		// The run outlives the request that started it; it ends when the scenario does
		// or when the console closes.
		ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
		defer cancel()
		go func() {
			select {
			case <-c.runs.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		res, err := c.cfg.Scenarios.RunWith(ctx, name, io.Discard, scenario.RunOptions{TimingAdvisory: true, Observe: ru.add})
		if err != nil && res.Error == "" {
			res.Error = err.Error()
		}
		ru.finish(res)
		c.runs.mu.Lock()
		c.runs.running = nil
		c.runs.mu.Unlock()
	}()
	http.Redirect(w, r, "/scenarios/runs/"+ru.ID, http.StatusSeeOther)
	return nil
}

// Close cancels a running scenario and waits for it to end. The handler refuses new runs
// afterwards; pages keep working.
func (c *Console) Close() {
	c.runs.mu.Lock()
	if !c.runs.closed {
		c.runs.closed = true
		close(c.runs.stop)
	}
	c.runs.mu.Unlock()
	c.runs.wg.Wait()
}

func (c *Console) findRun(r *http.Request) (*run, error) {
	id := mux.Vars(r)["id"]
	c.runs.mu.Lock()
	defer c.runs.mu.Unlock()
	ru, ok := c.runs.byID[id]
	if !ok {
		return nil, errorf(http.StatusNotFound, "no run %q (the console keeps the last %d)", id, keepRuns)
	}
	return ru, nil
}

func (c *Console) runPage(w http.ResponseWriter, r *http.Request, p principal) error {
	start := time.Now()
	ru, err := c.findRun(r)
	if err != nil {
		return err
	}
	sc, _ := c.cfg.Scenarios.Find(ru.Name)
	return c.show(w, "run", start, page{Title: "Scenario " + ru.Name, Who: p, Open: c.cfg.OpenRead, Data: struct {
		Run     *run
		Summary string
	}{ru, sc.Summary}})
}

// runEvents streams a run's lines as server-sent events ("line" events, then one "end"
// event with the result), replaying what was said before the browser connected.
func (c *Console) runEvents(w http.ResponseWriter, r *http.Request, _ principal) error {
	ru, err := c.findRun(r)
	if err != nil {
		return err
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		return errorf(http.StatusNotAcceptable, "this connection cannot stream events")
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	sent := 0
	for {
		lines, done, res, changed := ru.since(sent)
		for _, l := range lines {
			b, _ := json.Marshal(l)
			fmt.Fprintf(w, "event: line\ndata: %s\n\n", b)
		}
		sent += len(lines)
		if done {
			b, _ := json.Marshal(res)
			fmt.Fprintf(w, "event: end\ndata: %s\n\n", b)
			fl.Flush()
			return nil
		}
		fl.Flush()
		select {
		case <-changed:
		case <-r.Context().Done():
			return nil
		}
	}
}
