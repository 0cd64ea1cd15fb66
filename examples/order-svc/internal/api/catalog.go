package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/smp/order-svc/internal/auth"
	"github.com/smp/order-svc/internal/catalog"
	"github.com/smp/order-svc/internal/catalogcache"
)

// maxPage keeps OFFSET bounded; the catalog is small.
const maxPage = 10000

func queryInt(q url.Values, name string, def, lo, hi int) (int, *apiError) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, &apiError{http.StatusBadRequest, codeBadRequest,
			fmt.Sprintf("query parameter %s=%q must be a whole number between %d and %d", name, v, lo, hi)}
	}
	return n, nil
}

// listServices serves a catalog page from Redis when cached. A Redis
// failure degrades to reading MySQL, never to an error.
func (s *server) listServices(w http.ResponseWriter, r *http.Request, _ auth.Principal) {
	// r.URL.Query would silently drop a malformed pair such as
	// "page_size=1;DROP TABLE x"; refuse it instead.
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeError(w, r, http.StatusBadRequest, codeBadRequest, "malformed query string: "+err.Error())
		return
	}
	page, e := queryInt(q, "page", 1, 1, maxPage)
	if e == nil {
		var size int
		size, e = queryInt(q, "page_size", catalog.DefaultPageSize, 1, catalog.MaxPageSize)
		if e == nil {
			s.servePage(w, r, page, size)
			return
		}
	}
	writeAPIError(w, r, e)
}

func (s *server) servePage(w http.ResponseWriter, r *http.Request, page, size int) {
	ctx := r.Context()
	gen, body, cacheErr := s.Cache.Lookup(ctx, page, size)
	if cacheErr == nil {
		w.Header().Set("X-Cache", "HIT")
		writeRaw(w, http.StatusOK, body)
		return
	}
	s.logCacheErr(r, cacheErr)
	p, err := s.Store.ListServices(ctx, page, size)
	if err != nil {
		s.internalError(w, r, "list services", err)
		return
	}
	body, err = json.Marshal(p)
	if err != nil {
		s.internalError(w, r, "encode catalog page", err)
		return
	}
	// Only a miss tells the generation to store under; after a Redis
	// failure the page is served without caching it.
	if errors.Is(cacheErr, catalogcache.ErrMiss) {
		if err := s.Cache.Put(ctx, gen, page, size, body); err != nil {
			s.logCacheErr(r, err)
		}
	}
	w.Header().Set("X-Cache", "MISS")
	writeRaw(w, http.StatusOK, body)
}

func (s *server) logCacheErr(r *http.Request, err error) {
	if errors.Is(err, catalogcache.ErrMiss) {
		return
	}
	s.Log.WarnContext(r.Context(), "catalog cache unavailable; serving from MySQL",
		"request_id", requestIDFrom(r.Context()), "error", err.Error())
}

// serviceInput is the body of PUT /api/v1/catalog/services/{id}.
type serviceInput struct {
	Name      string  `json:"name"`
	Category  string  `json:"category"`
	BasePrice *int64  `json:"base_price"`
	Currency  *string `json:"currency"`
	Active    *bool   `json:"active"`
}

// parseServiceInput decodes and validates a catalog entry for id.
func parseServiceInput(id string, body []byte) (catalog.Service, *apiError) {
	var in serviceInput
	if e := decodeStrict(body, &in); e != nil {
		return catalog.Service{}, e
	}
	if in.BasePrice == nil || in.Active == nil {
		return catalog.Service{}, &apiError{http.StatusUnprocessableEntity, codeValidation, "base_price and active are required"}
	}
	svc := catalog.Service{ID: id, Name: in.Name, Category: in.Category, BasePrice: *in.BasePrice,
		Currency: catalog.Currency, Active: *in.Active}
	if in.Currency != nil {
		svc.Currency = *in.Currency
	}
	if err := svc.Validate(); err != nil {
		return catalog.Service{}, &apiError{http.StatusUnprocessableEntity, codeValidation, err.Error()}
	}
	return svc, nil
}

// putService creates or replaces a catalog entry and invalidates the
// cached pages.
func (s *server) putService(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	if !p.HasScope(ScopeCatalogWrite) {
		writeError(w, r, http.StatusForbidden, codeForbidden, "changing the catalog needs a token with scope "+ScopeCatalogWrite)
		return
	}
	body, e := readJSONBody(w, r, s.MaxBodyBytes)
	if e != nil {
		writeAPIError(w, r, e)
		return
	}
	svc, e := parseServiceInput(r.PathValue("id"), body)
	if e != nil {
		writeAPIError(w, r, e)
		return
	}
	stored, created, err := s.Store.UpsertService(r.Context(), svc)
	if err != nil {
		s.internalError(w, r, "upsert service", err)
		return
	}
	if err := s.Cache.Invalidate(r.Context()); err != nil {
		// The change is committed; pages expire within the cache TTL.
		s.Log.ErrorContext(r.Context(), "catalog cache not invalidated; stale pages until their TTL",
			"request_id", requestIDFrom(r.Context()), "error", err.Error())
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, stored)
}

func (s *server) internalError(w http.ResponseWriter, r *http.Request, action string, err error) {
	s.Log.ErrorContext(r.Context(), action+" failed", "request_id", requestIDFrom(r.Context()), "error", err.Error())
	writeError(w, r, http.StatusServiceUnavailable, codeDependencyUnavailable,
		"a dependency of the service failed; retry later and quote the request id if it persists")
}
