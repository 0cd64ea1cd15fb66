// Package catalog defines the SMP service catalog: the services customers
// can order, with their base price in VND, and the rules a service entry
// must satisfy before it is stored.
package catalog

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Currency is the only currency SMP prices in. VND has no minor unit, so
// prices are whole dong in an int64.
const Currency = "VND"

// MaxPrice bounds a base price (1 000 000 000 000 VND) so that price ×
// the largest quantity cannot overflow int64.
const MaxPrice int64 = 1_000_000_000_000

// ErrNotFound is returned when a service id does not exist.
var ErrNotFound = errors.New("service not found")

// Service is one entry of the catalog.
type Service struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Category  string    `json:"category"`
	BasePrice int64     `json:"base_price"`
	Currency  string    `json:"currency"`
	Active    bool      `json:"active"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Page is one page of the catalog.
type Page struct {
	Items    []Service `json:"items"`
	Page     int       `json:"page"`
	PageSize int       `json:"page_size"`
	Total    int       `json:"total"`
}

// Paging limits.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)

// ValidID reports whether id is a catalog id: lower-case letters, digits
// and dashes, 1 to 64 characters.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// Validate returns every rule s breaks, as one error.
func (s Service) Validate() error {
	var errs []error
	if !ValidID(s.ID) {
		errs = append(errs, fmt.Errorf("id %q must be 1-64 lower-case letters, digits or dashes", s.ID))
	}
	if n := utf8.RuneCountInString(s.Name); strings.TrimSpace(s.Name) == "" || n > 200 {
		errs = append(errs, errors.New("name must be 1-200 characters"))
	}
	if !idPattern.MatchString(s.Category) {
		errs = append(errs, fmt.Errorf("category %q must be 1-64 lower-case letters, digits or dashes", s.Category))
	}
	if s.BasePrice < 0 || s.BasePrice > MaxPrice {
		errs = append(errs, fmt.Errorf("base_price must be between 0 and %d VND", MaxPrice))
	}
	if s.Currency != Currency {
		errs = append(errs, fmt.Errorf("currency must be %q", Currency))
	}
	return errors.Join(errs...)
}
