// Package order defines an order for a catalog service and the rules a new
// order must satisfy.
package order

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/smp/order-svc/internal/catalog"
)

// MaxQuantity bounds one order line.
const MaxQuantity = 1000

// MaxNoteChars bounds the free-text note.
const MaxNoteChars = 500

// Sentinel errors for expected outcomes of creating an order.
var (
	// ErrNotFound: no order with that id belongs to the caller.
	ErrNotFound = errors.New("order not found")
	// ErrServiceUnavailable: the service does not exist or is inactive.
	ErrServiceUnavailable = errors.New("service does not exist or is not active")
	// ErrDuplicateKey: the caller already created an order with this
	// idempotency key.
	ErrDuplicateKey = errors.New("an order with this idempotency key exists")
)

// StatusCreated is the status of a new order.
const StatusCreated = "created"

// Request is what a customer sends to create an order.
type Request struct {
	ServiceID string `json:"service_id"`
	Quantity  int    `json:"quantity"`
	Note      string `json:"note,omitempty"`
}

// Validate returns every rule r breaks, as one error.
func (r Request) Validate() error {
	var errs []error
	if !catalog.ValidID(r.ServiceID) {
		errs = append(errs, errors.New("service_id must be a catalog id (lower-case letters, digits, dashes)"))
	}
	if r.Quantity < 1 || r.Quantity > MaxQuantity {
		errs = append(errs, fmt.Errorf("quantity must be between 1 and %d", MaxQuantity))
	}
	if utf8.RuneCountInString(r.Note) > MaxNoteChars || !utf8.ValidString(r.Note) {
		errs = append(errs, fmt.Errorf("note must be valid UTF-8 of at most %d characters", MaxNoteChars))
	}
	if strings.ContainsRune(r.Note, 0) {
		errs = append(errs, errors.New("note must not contain NUL characters"))
	}
	return errors.Join(errs...)
}

// New is an order to insert.
type New struct {
	CustomerID     string
	Request        Request
	IdempotencyKey string
	// RequestHash identifies the request body so that a reused key with a
	// different body can be told apart from a retry.
	RequestHash string
}

// Order is a stored order.
type Order struct {
	ID         uint64    `json:"id"`
	ServiceID  string    `json:"service_id"`
	Quantity   int       `json:"quantity"`
	UnitPrice  int64     `json:"unit_price"`
	Total      int64     `json:"total"`
	Currency   string    `json:"currency"`
	Note       string    `json:"note"`
	Status     string    `json:"status"`
	CreatedAt  time.Time `json:"created_at"`
	CustomerID string    `json:"-"`
	// RequestHash is kept to answer a retry whose Redis record expired.
	RequestHash string `json:"-"`
}
