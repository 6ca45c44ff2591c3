package features

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
)

// FeatureService is the versioned set of features one model consumes. Its schema hash
// covers every feature's view, type and computation, so the model registry can record the
// hash a model was trained with and the serving layer can refuse a mismatch.
type FeatureService struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
	// Features are "view:feature" references, in the order the model's input expects.
	Features []string `json:"features"`
}

// FeatureRef is a resolved "view:feature" reference.
type FeatureRef struct {
	View    string
	Feature string
}

func (r FeatureRef) String() string { return r.View + ":" + r.Feature }

// ParseRef splits "view:feature".
func ParseRef(s string) (FeatureRef, error) {
	view, feat, ok := strings.Cut(s, ":")
	if !ok || view == "" || feat == "" {
		return FeatureRef{}, fmt.Errorf("%w: feature reference %q is not view:feature", ErrUnknownFeature, s)
	}
	return FeatureRef{View: view, Feature: feat}, nil
}

// Registry holds the definitions a process knows: entities, views and services. It is safe
// for concurrent use; definitions are immutable once registered.
type Registry struct {
	mu       sync.RWMutex
	views    map[string]*FeatureView
	services map[string]*FeatureService
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{views: map[string]*FeatureView{}, services: map[string]*FeatureService{}}
}

// RegisterView validates a view and adds it. Registering the same definition again is a
// no-op; a different definition under the same name is an error (make a new view name, the
// way a table migration makes a new table).
func (r *Registry) RegisterView(v FeatureView) error {
	vv := v
	vv.Features = slices.Clone(v.Features)
	vv.Aggregations = slices.Clone(v.Aggregations)
	vv.Inputs = slices.Clone(v.Inputs)
	if err := vv.compile(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.views[v.Name]; ok {
		if old.Hash() != vv.Hash() {
			return fmt.Errorf("%w: view %q is already registered with a different definition (hash %s, new %s)", ErrInvalidDefinition, v.Name, old.Hash(), vv.Hash())
		}
		if old.Transform == nil {
			old.Transform = vv.Transform
		}
		return nil
	}
	r.views[v.Name] = &vv
	return nil
}

// View returns a registered view. The caller must not modify it.
func (r *Registry) View(name string) (*FeatureView, error) {
	r.mu.RLock()
	v, ok := r.views[name]
	r.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w %q (registered: %s)", ErrUnknownView, name, strings.Join(r.ViewNames(), ", "))
	}
	return v, nil
}

// ViewNames lists the registered views, sorted.
func (r *Registry) ViewNames() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.views))
	for n := range r.views {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// PIIViews lists the registered views whose entity is named entity and marked PII, sorted.
func (r *Registry) PIIViews(entity string) []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var names []string
	for n, v := range r.views {
		if v.Entity.Name == entity && v.Entity.PII {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// RegisterService validates a service against the registered views and adds it.
func (r *Registry) RegisterService(s FeatureService) error {
	var errs []error
	if err := checkName("service", s.Name); err != nil {
		errs = append(errs, err)
	}
	if s.Version < 1 {
		errs = append(errs, fmt.Errorf("version must be at least 1, got %d", s.Version))
	}
	if len(s.Features) == 0 {
		errs = append(errs, errors.New("service lists no features"))
	}
	seen := map[string]bool{}
	for _, ref := range s.Features {
		if seen[ref] {
			errs = append(errs, fmt.Errorf("feature %q listed twice", ref))
		}
		seen[ref] = true
		if _, _, err := r.resolve(ref); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: service %q: %w", ErrInvalidDefinition, s.Name, err)
	}
	ss := s
	ss.Features = slices.Clone(s.Features)
	r.mu.Lock()
	defer r.mu.Unlock()
	key := fmt.Sprintf("%s@%d", s.Name, s.Version)
	if old, ok := r.services[key]; ok && !slices.Equal(old.Features, ss.Features) {
		return fmt.Errorf("%w: service %s is already registered with other features; bump the version", ErrInvalidDefinition, key)
	}
	r.services[key] = &ss
	if latest, ok := r.services[s.Name]; !ok || latest.Version <= s.Version {
		r.services[s.Name] = &ss
	}
	return nil
}

// Service returns a service by "name" (its newest version) or "name@version".
func (r *Registry) Service(name string) (*FeatureService, error) {
	r.mu.RLock()
	s, ok := r.services[name]
	r.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownService, name)
	}
	return s, nil
}

// SchemaHash is the hash of a service: its features in order, each with its view's
// definition hash, type and computation. Two services hash the same only if a model could
// not tell their inputs apart.
func (r *Registry) SchemaHash(service string) (string, error) {
	s, err := r.Service(service)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "service %s@%d\n", s.Name, s.Version)
	for _, ref := range s.Features {
		v, i, err := r.resolve(ref)
		if err != nil {
			return "", err
		}
		f := v.Features[i]
		fmt.Fprintf(&b, "%s %s %d view=%s\n", ref, f.Kind, f.Dim, v.Hash())
	}
	sum := sha256.Sum256([]byte(b.String()))
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// CheckSchema returns ErrSchemaMismatch unless the service's current hash is want: the
// check the serving layer makes before it feeds a model trained on want (serving.Server
// calls it, through serving.Config.Features, before loading each version of a model bound
// to a feature service).
func (r *Registry) CheckSchema(service, want string) error {
	got, err := r.SchemaHash(service)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("%w: service %s hashes to %s, the model expects %s", ErrSchemaMismatch, service, got, want)
	}
	return nil
}

// Resolve finds a "view:feature" reference.
func (r *Registry) Resolve(ref string) (*FeatureView, int, error) { return r.resolve(ref) }

func (r *Registry) resolve(ref string) (*FeatureView, int, error) {
	fr, err := ParseRef(ref)
	if err != nil {
		return nil, 0, err
	}
	v, err := r.View(fr.View)
	if err != nil {
		return nil, 0, err
	}
	i, err := v.FeatureIndex(fr.Feature)
	if err != nil {
		return nil, 0, err
	}
	return v, i, nil
}
