// Package console is Casebook's web console: server-rendered pages over the model
// registry, the event log's prediction log and alerts, serving's metrics, the platform's
// scenarios and loadgen's reports, so that an operator can look at the live system
// instead of reading JSON. Pages are html/template with the platform's SVG plots, no
// external assets and a few lines of JavaScript; admin actions (promote, rollback) need an
// admin key, a confirmation with a one-time token, and go through the registry's gates
// and audit log.
package console

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/gorilla/mux"

	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/registry"
	"github.com/casebook-ml/casebook/platform/scenario"
	"github.com/casebook-ml/casebook/platform/serving"
)

// Config is what the console shows and who may see it.
type Config struct {
	// Registry is required.
	Registry *registry.Registry
	// Log is the event log holding the prediction log, outcomes and alerts; nil: the
	// monitoring page says there is none.
	Log *eventlog.Log
	// Scenarios can be run from the scenarios page.
	Scenarios scenario.Set
	// ServingURLs are base URLs of serving processes whose /metrics the serving page reads.
	ServingURLs []string
	// ReportsDir holds loadgen JSON reports.
	ReportsDir string
	// Keys are the API keys (serving's keys file format). Admin keys may promote and roll
	// back; any key may read.
	Keys []serving.APIKey
	// OpenRead lets requests without a key read every page (admin actions still need an
	// admin key). mlp console sets it only when it listens on loopback with no keys file.
	OpenRead bool
	// PageSize is how many models the models page lists at once.
	PageSize int
	// Reference and Windows shape the monitoring page: the first Reference predictions of
	// a model are its drift reference, the rest is cut into Windows windows of equal count.
	Reference, Windows int
	// MaxPredictions bounds how many of a model's most recent predictions the monitoring
	// page reads after the reference.
	MaxPredictions int
	// ScrapeTimeout bounds one /metrics read.
	ScrapeTimeout time.Duration
	// TokenTTL is how long a confirmation stays valid.
	TokenTTL time.Duration
	Logger   *slog.Logger
	// Now is the clock (tests replace it).
	Now func() time.Time
}

// DefaultConfig returns a Config with the bounds filled in; Registry is still needed.
func DefaultConfig() Config {
	return Config{ReportsDir: "out", PageSize: 25, Reference: 1000, Windows: 12, MaxPredictions: 20000,
		ScrapeTimeout: 2 * time.Second, TokenTTL: 10 * time.Minute, Now: time.Now}
}

// ErrInvalidConfig is returned by Validate.
var ErrInvalidConfig = errors.New("console: invalid config")

// Validate reports a config the console cannot run with.
func (c Config) Validate() error {
	switch {
	case c.Registry == nil:
		return fmt.Errorf("%w: no registry", ErrInvalidConfig)
	case c.PageSize < 1 || c.Reference < 10 || c.Windows < 1 || c.MaxPredictions < c.Windows:
		return fmt.Errorf("%w: page size %d, reference %d, windows %d, max predictions %d", ErrInvalidConfig, c.PageSize, c.Reference, c.Windows, c.MaxPredictions)
	case c.ScrapeTimeout <= 0 || c.TokenTTL <= 0 || c.Now == nil:
		return fmt.Errorf("%w: scrape timeout, token TTL and clock are required", ErrInvalidConfig)
	case len(c.Keys) == 0 && !c.OpenRead:
		return fmt.Errorf("%w: no keys and reads not open: nobody could use the console", ErrInvalidConfig)
	}
	for _, k := range c.Keys {
		if len(k.Key) < 16 {
			return fmt.Errorf("%w: key of tenant %q is shorter than 16 characters", ErrInvalidConfig, k.Tenant)
		}
	}
	return nil
}

// Console serves the pages.
type Console struct {
	cfg      Config
	reg      *registry.Registry
	log      *slog.Logger
	keys     *serving.Keyring
	pages    *pages
	sessions *sessions
	tokens   *tokens
	runs     *runs
	scrapes  *scrapes
	router   *mux.Router
}

// New builds a console over cfg.
func New(cfg Config) (*Console, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p, err := parsePages()
	if err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Console{cfg: cfg, reg: cfg.Registry, log: logger.With("component", "console"), keys: serving.NewKeyring(cfg.Keys), pages: p,
		sessions: &sessions{byToken: map[string]principal{}}, tokens: &tokens{pending: map[string]pendingAction{}},
		runs: &runs{byID: map[string]*run{}, stop: make(chan struct{})}, scrapes: &scrapes{last: map[string]scrapeSample{}}}
	c.router = c.routes()
	return c, nil
}

// Handler is the console's HTTP handler.
func (c *Console) Handler() http.Handler { return c.router }

func (c *Console) routes() *mux.Router {
	r := mux.NewRouter()
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		c.fail(w, req, errorf(http.StatusNotFound, "no page at %s", req.URL.Path))
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		c.fail(w, req, errorf(http.StatusMethodNotAllowed, "%s is not allowed on %s", req.Method, req.URL.Path))
	})
	r.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) { http.Redirect(w, req, "/models", http.StatusSeeOther) }).Methods("GET")
	r.HandleFunc("/login", c.wrap(c.loginForm, false)).Methods("GET")
	r.HandleFunc("/login", c.login).Methods("POST")
	r.HandleFunc("/logout", c.logout).Methods("POST")
	read := func(path string, h handler) { r.HandleFunc(path, c.wrap(h, true)).Methods("GET") }
	read("/models", c.modelsPage)
	read("/models/{model}", c.modelPage)
	read("/models/{model}/versions/{version}", c.cardPage)
	read("/models/{model}/versions/{version}/card.md", c.cardMarkdown)
	read("/audit", c.auditPage)
	read("/serving", c.servingPage)
	read("/monitoring", c.monitoringPage)
	read("/scenarios", c.scenariosPage)
	read("/scenarios/runs/{id}", c.runPage)
	read("/scenarios/runs/{id}/events", c.runEvents)
	read("/loadreports", c.loadReportsPage)
	read("/loadreports/{file}", c.loadReportPage)
	read("/models/{model}/promote", c.confirmPromote)
	read("/models/{model}/rollback", c.confirmRollback)
	r.HandleFunc("/scenarios/run", c.wrap(c.startRun, true)).Methods("POST")
	r.HandleFunc("/actions", c.wrap(c.doAction, true)).Methods("POST")
	r.Use(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.Method == http.MethodPost && !sameOrigin(req) {
				c.fail(w, req, errorf(http.StatusForbidden, "a form posted from another site (Origin %s) is refused", req.Header.Get("Origin")))
				return
			}
			h := w.Header()
			h.Set("Content-Security-Policy", "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'")
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Referrer-Policy", "same-origin") // "no-referrer" would make forms post Origin: null
			next.ServeHTTP(w, req)
		})
	})
	return r
}

// sameOrigin reports whether a request's Origin, when the browser sends one, is this
// console: a page on another site must not start a scenario or log someone in (admin
// actions also need their one-time token).
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true // not a browser's cross-site form: curl, or a same-origin GET turned POST by an old browser
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

// httpError is a failure the user caused or can act on, with its status.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func errorf(code int, format string, args ...any) error {
	return &httpError{code: code, msg: fmt.Sprintf(format, args...)}
}

// handler renders one page; an error becomes an error page with its status.
type handler func(w http.ResponseWriter, r *http.Request, p principal) error

// wrap authenticates (when needRead) and renders errors.
func (c *Console) wrap(h handler, needRead bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		p := c.who(r)
		if needRead && !p.ok && !c.cfg.OpenRead {
			c.fail(w, r, errorf(http.StatusUnauthorized, "this console needs a key: log in with a read-only or admin key"))
			return
		}
		if err := h(w, r, p); err != nil {
			c.fail(w, r, err)
		}
		c.log.Debug("page", "path", r.URL.Path, "took", time.Since(start))
	}
}

// fail renders err as an error page: an *httpError with its status, a registry error
// mapped to the status it means, anything else as 500 (logged, its text not shown).
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	code, msg := http.StatusInternalServerError, "the console failed to build this page; the error is in its log"
	var he *httpError
	var ge *registry.GateError
	switch {
	case errors.As(err, &he):
		code, msg = he.code, he.msg
	case errors.Is(err, registry.ErrModelNotFound), errors.Is(err, registry.ErrVersionNotFound), errors.Is(err, registry.ErrAliasNotFound):
		code, msg = http.StatusNotFound, err.Error()
	case errors.As(err, &ge), errors.Is(err, registry.ErrNoChange), errors.Is(err, registry.ErrNothingToRollBack):
		code, msg = http.StatusConflict, err.Error()
	case errors.Is(err, registry.ErrInvalid):
		code, msg = http.StatusBadRequest, err.Error()
	default:
		c.log.Error("page failed", "path", r.URL.Path, "err", err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	p := c.who(r)
	_ = c.pages.render(w, "error", page{Title: http.StatusText(code), Who: p, Open: c.cfg.OpenRead, Data: struct {
		Code  int
		Msg   string
		Login bool
	}{code, msg, code == http.StatusUnauthorized || code == http.StatusForbidden}})
}

// page is what every template gets.
type page struct {
	Title  string
	Nav    string
	Who    principal
	Open   bool
	Took   string
	Data   any
	Charts []chart
}

// show renders a page with the server time it took to build, from start.
func (c *Console) show(w http.ResponseWriter, name string, start time.Time, pg page) error {
	pg.Took = time.Since(start).Round(10 * time.Microsecond).String()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Server-Timing", fmt.Sprintf("page;dur=%.2f", float64(time.Since(start).Microseconds())/1000))
	return c.pages.render(w, name, pg)
}
