package serving

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/casebook-ml/casebook/platform/registry"
)

// Response headers saying who answered.
const (
	HeaderPath    = "X-Casebook-Path"
	HeaderVersion = "X-Casebook-Version"
	HeaderVariant = "X-Casebook-Variant"
	// HeaderReason says why the fallback chain answered (Reason*); absent when the primary did.
	HeaderReason = "X-Casebook-Fallback-Reason"
	// HeaderTimeout carries the caller's deadline budget ("5ms", or a number of
	// milliseconds); the protocol parameter timeout_ms does the same from the body.
	HeaderTimeout = "X-Casebook-Timeout"
	// HeaderKey carries the canary split key (a user id, say); the parameter "key" too.
	HeaderKey = "X-Casebook-Key"
)

// Handler returns the HTTP API: the Open Inference Protocol v2 REST endpoints, the model
// repository extension, alias moves and /metrics.
func (s *Server) Handler() http.Handler {
	r := mux.NewRouter()
	r.HandleFunc("/v2", s.serverMetadata).Methods(http.MethodGet)
	r.HandleFunc("/v2/health/live", s.live).Methods(http.MethodGet)
	r.HandleFunc("/v2/health/ready", s.serverReady).Methods(http.MethodGet)
	r.HandleFunc("/v2/models/{name}", s.modelMetadata).Methods(http.MethodGet)
	r.HandleFunc("/v2/models/{name}/versions/{version}", s.modelMetadata).Methods(http.MethodGet)
	r.HandleFunc("/v2/models/{name}/ready", s.modelReady).Methods(http.MethodGet)
	r.HandleFunc("/v2/models/{name}/versions/{version}/ready", s.modelReady).Methods(http.MethodGet)
	r.HandleFunc("/v2/models/{name}/infer", s.infer).Methods(http.MethodPost)
	r.HandleFunc("/v2/models/{name}/versions/{version}/infer", s.infer).Methods(http.MethodPost)
	r.HandleFunc("/v2/models/{name}/explain", s.explain).Methods(http.MethodPost)
	r.HandleFunc("/v2/models/{name}/versions/{version}/explain", s.explain).Methods(http.MethodPost)
	r.HandleFunc("/v2/repository/index", s.repositoryIndex).Methods(http.MethodPost)
	r.HandleFunc("/v2/repository/models/{name}/load", s.repositoryLoad).Methods(http.MethodPost)
	r.HandleFunc("/v2/repository/models/{name}/unload", s.repositoryUnload).Methods(http.MethodPost)
	r.HandleFunc("/v2/casebook/models/{name}/aliases/{alias}", s.moveAlias).Methods(http.MethodPut)
	r.HandleFunc("/v2/casebook/models/{name}/aliases/{alias}/rollback", s.rollbackAlias).Methods(http.MethodPost)
	r.HandleFunc("/v2/casebook/keys/reload", s.reloadKeys).Methods(http.MethodPost)
	r.HandleFunc("/v2/casebook/models/{name}/versions/{version}", s.archiveVersion).Methods(http.MethodDelete)
	if s.cfg.Gatherer != nil {
		r.Handle("/metrics", promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{}))
	}
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.writeError(w, http.StatusNotFound, errors.New("no such endpoint"))
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.writeError(w, http.StatusMethodNotAllowed, errors.New("method not allowed"))
	})
	return r
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func (s *Server) writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers with the protocol's {"error": "..."} body; admission refusals carry
// Retry-After (seconds, as HTTP wants) and X-Casebook-Retry-After-Ms.
func (s *Server) writeError(w http.ResponseWriter, code int, err error) {
	var oe *OverloadError
	if errors.As(err, &oe) {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int((oe.RetryAfter+time.Second-1)/time.Second))))
		w.Header().Set("X-Casebook-Retry-After-Ms", strconv.FormatInt(max(1, oe.RetryAfter.Milliseconds()), 10))
	}
	switch {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		s.met.authFailures.WithLabelValues(strconv.Itoa(code)).Inc()
	case code >= 400 && code < 500 && code != http.StatusTooManyRequests:
		s.met.badRequests.WithLabelValues(strconv.Itoa(code)).Inc()
	}
	s.writeJSON(w, code, ErrorResponse{Error: err.Error()})
}

func (s *Server) live(w http.ResponseWriter, _ *http.Request) {
	s.writeJSON(w, http.StatusOK, map[string]bool{"live": true})
}

func (s *Server) serverReady(w http.ResponseWriter, _ *http.Request) {
	ok := s.ready.Load()
	for _, n := range s.Models() {
		if e, err := s.entry(n); err == nil && e.primary.Load() == nil {
			ok = false
		}
	}
	code := http.StatusOK
	if !ok {
		code = http.StatusServiceUnavailable
	}
	s.writeJSON(w, code, map[string]bool{"ready": ok})
}

func (s *Server) serverMetadata(w http.ResponseWriter, _ *http.Request) {
	s.writeJSON(w, http.StatusOK, map[string]any{"name": "casebook-serving", "version": "v2", "extensions": []string{"model_repository", "casebook_aliases"}})
}

// target resolves the {name} and optional {version} of a route after auth.
func (s *Server) target(w http.ResponseWriter, r *http.Request) (*entry, int, bool) {
	vars := mux.Vars(r)
	name := vars["name"]
	if _, err := s.auth.Load().check(r, name, false); err != nil {
		s.writeError(w, statusOf(err), err)
		return nil, 0, false
	}
	e, err := s.entry(name)
	if err != nil {
		s.writeError(w, http.StatusNotFound, err)
		return nil, 0, false
	}
	version := 0
	if v, ok := vars["version"]; ok {
		n, err := strconv.Atoi(strings.TrimPrefix(v, "v"))
		if err != nil || n <= 0 {
			s.writeError(w, http.StatusNotFound, fmt.Errorf("%w: %q", ErrVersionNotFound, v))
			return nil, 0, false
		}
		version = n
	}
	return e, version, true
}

func (s *Server) modelMetadata(w http.ResponseWriter, r *http.Request) {
	e, version, ok := s.target(w, r)
	if !ok {
		return
	}
	d, _, err := e.route(Request{Version: version})
	if err != nil {
		s.writeError(w, statusOf(err), err)
		return
	}
	if d == nil {
		s.writeError(w, http.StatusServiceUnavailable, fmt.Errorf("%w: %s", ErrNotReady, e.cfg.Name))
		return
	}
	var versions []string
	for _, p := range []*deployed{e.primary.Load(), e.canary.Load(), e.shadow.Load()} {
		if p != nil {
			versions = append(versions, strconv.Itoa(p.version.Number))
		}
	}
	k := int64(d.host.k)
	s.writeJSON(w, http.StatusOK, ModelMetadata{Name: e.cfg.Name, Versions: versions, Platform: "casebook-" + string(d.model.Family()),
		Inputs:  []TensorMetadata{{Name: InputName, Datatype: "FP64", Shape: []int64{-1, k}}},
		Outputs: []TensorMetadata{{Name: "score", Datatype: "FP64", Shape: []int64{-1}}},
		Parameters: map[string]any{"features": d.host.schema.Names(), "feature_schema_sha256": d.host.schema.Hash(), "version": d.version.Number,
			"priority": e.cfg.Priority, "sla_ms": float64(e.cfg.SLA) / float64(time.Millisecond), "alias": e.cfg.Alias}})
}

func (s *Server) modelReady(w http.ResponseWriter, r *http.Request) {
	e, version, ok := s.target(w, r)
	if !ok {
		return
	}
	d, _, err := e.route(Request{Version: version})
	ready := err == nil && d != nil
	code := http.StatusOK
	if !ready {
		code = http.StatusServiceUnavailable
	}
	s.writeJSON(w, code, map[string]any{"name": e.cfg.Name, "ready": ready})
}

// infer is POST /v2/models/{name}[/versions/{v}]/infer.
func (s *Server) infer(w http.ResponseWriter, r *http.Request) {
	t0 := time.Now()
	e, version, ok := s.target(w, r)
	if !ok {
		return
	}
	code, answered := http.StatusOK, "none"
	defer func() {
		s.met.latency.WithLabelValues(e.cfg.Name, answered, prioLabel(e.cfg.Priority), strconv.Itoa(code)).Observe(time.Since(t0).Seconds())
	}()
	fail := func(err error) {
		code = statusOf(err)
		s.writeError(w, code, err)
	}
	budget := e.cfg.SLA
	if h := r.Header.Get(HeaderTimeout); h != "" {
		d, err := parseTimeout(h)
		if err != nil {
			fail(err)
			return
		}
		budget = d
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	body, err := readBody(r.Body, s.cfg.MaxBodyBytes, (*bp)[:0])
	*bp = body[:0]
	if err != nil {
		fail(err)
		return
	}
	d, _, err := e.route(Request{Version: version})
	if err != nil {
		fail(err)
		return
	}
	if d == nil {
		d = e.lastGood.Load()
	}
	if d == nil {
		fail(fmt.Errorf("%w: %s", ErrNotReady, e.cfg.Name))
		return
	}
	dec, err := DecodeInferRequest(body, d.model.Schema())
	if err != nil {
		fail(err)
		return
	}
	if dec.Timeout > 0 {
		budget = dec.Timeout
	}
	if k := r.Header.Get(HeaderKey); k != "" && dec.Key == "" {
		dec.Key = k
	}
	budget = min(budget, s.cfg.MaxTimeout)
	if s.plog != nil {
		dec.ID = s.plog.requestID(dec.ID) // records, shadow ones included, join on it
	}
	res, err := s.Infer(r.Context(), Request{Model: e.cfg.Name, Version: version, Decoded: dec, Deadline: t0.Add(budget)})
	if err != nil {
		fail(err)
		return
	}
	ver := strconv.Itoa(res.Version)
	answered = ver
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set(HeaderPath, res.Path)
	h.Set(HeaderVersion, ver)
	h.Set(HeaderVariant, res.Variant)
	if res.Reason != "" {
		h.Set(HeaderReason, res.Reason)
	}
	out := appendInferResponse((*bp)[:0], e.cfg.Name, res.Version, dec.ID, res.Path, res.Scores)
	*bp = out[:0]
	_, _ = w.Write(out)
}

// readBody reads at most limit bytes into buf; a longer body is ErrTooLarge.
func readBody(r io.Reader, limit int64, buf []byte) ([]byte, error) {
	lr := io.LimitReader(r, limit+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return buf, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, fmt.Errorf("%w: reading body: %v", ErrBadRequest, err)
		}
	}
}

func parseTimeout(h string) (time.Duration, error) {
	if ms, err := strconv.ParseFloat(h, 64); err == nil && ms > 0 && ms <= 600_000 {
		return time.Duration(ms * float64(time.Millisecond)), nil
	}
	if d, err := time.ParseDuration(h); err == nil && d > 0 {
		return d, nil
	}
	return 0, fmt.Errorf("%w: %s %q is not a positive duration (\"5ms\") or number of milliseconds", ErrBadRequest, HeaderTimeout, h)
}

func (s *Server) repositoryIndex(w http.ResponseWriter, r *http.Request) {
	if _, err := s.auth.Load().check(r, "", true); err != nil {
		s.writeError(w, statusOf(err), err)
		return
	}
	var out []map[string]any
	for _, n := range s.Models() {
		st, err := s.Status(n)
		if err != nil {
			continue
		}
		state := "READY"
		if st.Primary == 0 {
			state = "UNAVAILABLE"
		}
		m := map[string]any{"name": n, "version": strconv.Itoa(st.Primary), "state": state}
		if st.Refused != "" {
			m["reason"] = st.Refused // why the latest alias move was not followed
		}
		out = append(out, m)
	}
	s.writeJSON(w, http.StatusOK, out)
}

// repositoryLoad serves a registry model (at champion, with default settings) that is
// not served yet.
func (s *Server) repositoryLoad(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	p, reason, ok := s.admin(w, r, "")
	if !ok {
		return
	}
	mc := DefaultModelConfig(name)
	if err := mc.Validate(); err != nil {
		s.writeError(w, http.StatusBadRequest, fmt.Errorf("%w: %v", ErrBadRequest, err))
		return
	}
	if _, err := s.reg.Resolve(r.Context(), name, mc.Alias); err != nil {
		s.writeError(w, http.StatusNotFound, fmt.Errorf("%w: %v", ErrModelNotFound, err))
		return
	}
	seq, ok := s.audit(r.Context(), w, registry.ActionServeLoad, name, p, reason)
	if !ok {
		return
	}
	if err := s.add(r.Context(), mc); err != nil {
		s.writeError(w, http.StatusConflict, fmt.Errorf("audited as entry %d but not loaded: %w", seq, err))
		return
	}
	s.log.Info("model loaded through the repository API", "model", name, "tenant", p.tenant)
	s.writeJSON(w, http.StatusOK, map[string]string{"name": name, "state": "READY"})
}

func (s *Server) repositoryUnload(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	p, reason, ok := s.admin(w, r, "")
	if !ok {
		return
	}
	if _, err := s.entry(name); err != nil {
		s.writeError(w, http.StatusNotFound, fmt.Errorf("%w: %q", ErrModelNotFound, name))
		return
	}
	if _, ok := s.audit(r.Context(), w, registry.ActionServeUnload, name, p, reason); !ok {
		return
	}
	s.mu.Lock()
	e := s.entries[name]
	delete(s.entries, name)
	s.mu.Unlock()
	if e == nil { // unloaded by a concurrent call between the check and here
		s.writeError(w, http.StatusNotFound, fmt.Errorf("%w: %q", ErrModelNotFound, name))
		return
	}
	e.stop()
	s.log.Info("model unloaded through the repository API", "model", name, "tenant", p.tenant)
	s.writeJSON(w, http.StatusOK, map[string]string{"name": name, "state": "UNAVAILABLE"})
}

// AliasMove is the body of PUT /v2/casebook/models/{name}/aliases/{alias}.
type AliasMove struct {
	Version int    `json:"version"`
	Reason  string `json:"reason"`
	// Force moves the alias even if the registry's default gates refuse (audited).
	Force bool `json:"force"`
}

// moveAlias asks the registry to move an alias (gated and audited there); the server
// then follows the move through its watch like any other.
func (s *Server) moveAlias(w http.ResponseWriter, r *http.Request) {
	vars := mux.Vars(r)
	p, err := s.auth.Load().check(r, vars["name"], true)
	if err != nil {
		s.writeError(w, statusOf(err), err)
		return
	}
	var req AliasMove
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil || req.Version <= 0 || req.Reason == "" {
		s.writeError(w, http.StatusBadRequest, fmt.Errorf("%w: want {\"version\": N, \"reason\": \"...\"}", ErrBadRequest))
		return
	}
	mv, err := s.reg.Promote(r.Context(), registry.PromoteRequest{Model: vars["name"], Alias: vars["alias"], Version: req.Version,
		Actor: "serving/" + p.tenant, Reason: req.Reason, Gates: registry.DefaultGates(), Force: req.Force})
	if err != nil {
		code := http.StatusConflict
		if errors.Is(err, registry.ErrVersionNotFound) || errors.Is(err, registry.ErrModelNotFound) {
			code = http.StatusNotFound
		}
		s.writeError(w, code, err)
		return
	}
	s.writeJSON(w, http.StatusOK, map[string]any{"model": vars["name"], "alias": vars["alias"], "from": mv.Audit.From, "to": mv.Audit.To, "audit_seq": mv.Audit.Seq})
}

func (s *Server) rollbackAlias(w http.ResponseWriter, r *http.Request) {
	vars := mux.Vars(r)
	p, reason, ok := s.admin(w, r, vars["name"])
	if !ok {
		return
	}
	mv, err := s.reg.Rollback(r.Context(), vars["name"], vars["alias"], "serving/"+p.tenant, reason)
	if err != nil {
		s.writeError(w, http.StatusConflict, err)
		return
	}
	s.writeJSON(w, http.StatusOK, map[string]any{"model": vars["name"], "alias": vars["alias"], "from": mv.Audit.From, "to": mv.Audit.To})
}
