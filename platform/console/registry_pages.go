package console

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/casebook-ml/casebook/platform/registry"
)

// modelRow is one line of the models page.
type modelRow struct {
	Name     string
	Versions int
	Latest   registry.Version
	Aliases  []aliasPos
}

type aliasPos struct {
	Alias   string
	Version int
}

func sortedAliases(m map[string]int) []aliasPos {
	out := make([]aliasPos, 0, len(m))
	for a, v := range m {
		out = append(out, aliasPos{a, v})
	}
	slices.SortFunc(out, func(a, b aliasPos) int {
		if a.Alias < b.Alias {
			return -1
		}
		if a.Alias > b.Alias {
			return 1
		}
		return 0
	})
	return out
}

// pageParam reads ?page=N (1-based); a bad value is a 400.
func pageParam(r *http.Request) (int, error) {
	s := r.URL.Query().Get("page")
	if s == "" {
		return 1, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, errorf(http.StatusBadRequest, "page %q: want a positive number", s)
	}
	return n, nil
}

func (c *Console) modelsPage(w http.ResponseWriter, r *http.Request, p principal) error {
	start := time.Now()
	pg, err := pageParam(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	names, err := c.reg.Models(ctx)
	if err != nil {
		return err
	}
	sort.Strings(names)
	pages := max(1, (len(names)+c.cfg.PageSize-1)/c.cfg.PageSize)
	if pg > pages {
		return errorf(http.StatusNotFound, "page %d: there are %d pages of models", pg, pages)
	}
	shown := names[(pg-1)*c.cfg.PageSize : min(len(names), pg*c.cfg.PageSize)]
	rows := make([]modelRow, 0, len(shown))
	for _, n := range shown {
		vs, err := c.reg.Versions(ctx, n)
		if err != nil {
			return err
		}
		al, err := c.reg.Aliases(ctx, n)
		if err != nil {
			return err
		}
		row := modelRow{Name: n, Versions: len(vs), Aliases: sortedAliases(al)}
		if len(vs) > 0 {
			row.Latest = vs[len(vs)-1]
		}
		rows = append(rows, row)
	}
	data := struct {
		Rows              []modelRow
		Total, Page, Last int
		Prev, Next        int
	}{rows, len(names), pg, pages, pg - 1, 0}
	if pg < pages {
		data.Next = pg + 1
	}
	return c.show(w, "models", start, page{Title: "Models", Who: p, Open: c.cfg.OpenRead, Data: data})
}

// model reads the {model} path variable and checks the model exists (404 otherwise).
func (c *Console) model(ctx context.Context, r *http.Request) (string, []registry.Version, error) {
	name := mux.Vars(r)["model"]
	if !registry.ValidName(name) {
		return "", nil, errorf(http.StatusBadRequest, "%q is not a valid model name", name)
	}
	vs, err := c.reg.Versions(ctx, name)
	if err != nil {
		return "", nil, err
	}
	if len(vs) == 0 {
		return "", nil, errorf(http.StatusNotFound, "model %q has no versions", name)
	}
	return name, vs, nil
}

// chainStatus is the audit log's verification, as shown on a page.
type chainStatus struct {
	Entries int
	OK      bool
	Problem string
}

// verifyChain checks the audit log's hash chain; a broken chain is shown, not an error.
func verifyChain(all []registry.AuditEntry) (chainStatus, error) {
	err := registry.VerifyChain(all)
	var te *registry.TamperError
	switch {
	case err == nil:
		return chainStatus{Entries: len(all), OK: true}, nil
	case errors.As(err, &te):
		return chainStatus{Entries: len(all), Problem: te.Error()}, nil
	}
	return chainStatus{}, err
}

func (c *Console) modelPage(w http.ResponseWriter, r *http.Request, p principal) error {
	start := time.Now()
	ctx := r.Context()
	name, vs, err := c.model(ctx, r)
	if err != nil {
		return err
	}
	al, err := c.reg.Aliases(ctx, name)
	if err != nil {
		return err
	}
	// One read of the log serves both the chain's verification and this model's entries.
	all, err := c.reg.Audit(ctx, "")
	if err != nil {
		return err
	}
	chain, err := verifyChain(all)
	if err != nil {
		return err
	}
	var audit []registry.AuditEntry
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].Model == name {
			audit = append(audit, all[i])
		}
	}
	rev := slices.Clone(vs)
	slices.Reverse(rev)
	data := struct {
		Name     string
		Versions []registry.Version
		Aliases  []aliasPos
		Audit    []registry.AuditEntry
		Chain    chainStatus
	}{name, rev, sortedAliases(al), audit, chain}
	return c.show(w, "model", start, page{Title: "Model " + name, Nav: "model", Who: p, Open: c.cfg.OpenRead, Data: data})
}

// version reads {version}: a number (400 otherwise) that exists (404 otherwise).
func (c *Console) version(ctx context.Context, r *http.Request) (registry.Version, error) {
	name, _, err := c.model(ctx, r)
	if err != nil {
		return registry.Version{}, err
	}
	s := mux.Vars(r)["version"]
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return registry.Version{}, errorf(http.StatusBadRequest, "version %q: want a positive number", s)
	}
	return c.reg.Resolve(ctx, name, strconv.Itoa(n))
}

func (c *Console) auditPage(w http.ResponseWriter, r *http.Request, p principal) error {
	start := time.Now()
	ctx := r.Context()
	pg, err := pageParam(r)
	if err != nil {
		return err
	}
	all, err := c.reg.Audit(ctx, "")
	if err != nil {
		return err
	}
	chain, err := verifyChain(all)
	if err != nil {
		return err
	}
	const per = 100
	slices.Reverse(all)
	pages := max(1, (len(all)+per-1)/per)
	if pg > pages {
		return errorf(http.StatusNotFound, "page %d: the audit log has %d pages", pg, pages)
	}
	data := struct {
		Entries          []registry.AuditEntry
		Chain            chainStatus
		Page, Last, Prev int
		Next             int
	}{all[(pg-1)*per : min(len(all), pg*per)], chain, pg, pages, pg - 1, 0}
	if pg < pages {
		data.Next = pg + 1
	}
	return c.show(w, "audit", start, page{Title: "Audit log", Who: p, Open: c.cfg.OpenRead, Data: data})
}
