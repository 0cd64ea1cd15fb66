// Package store keeps the catalog and orders in MySQL (MariaDB 10.11 or
// MySQL 8). Every method takes a context and bounds its own call with the
// store's timeout, so a slow database cannot hold a request forever.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/smp/order-svc/internal/catalog"
	"github.com/smp/order-svc/internal/order"
)

// MySQL error numbers the store turns into sentinel errors.
const (
	errDupEntry      = 1062
	errNoReferenced  = 1452
	errCheckViolated = 4025
)

// Store is the MySQL-backed storage.
type Store struct {
	db      *sql.DB
	timeout time.Duration
}

// New returns a Store over db; every call is bounded by timeout.
func New(db *sql.DB, timeout time.Duration) *Store {
	return &Store{db: db, timeout: timeout}
}

func (s *Store) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping mysql: %w", err)
	}
	return nil
}

// ListServices returns one page of the catalog ordered by id.
func (s *Store) ListServices(ctx context.Context, page, size int) (catalog.Page, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	p := catalog.Page{Items: []catalog.Service{}, Page: page, PageSize: size}
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM services`).Scan(&p.Total); err != nil {
		return catalog.Page{}, fmt.Errorf("count services: %w", err)
	}
	rows, err := s.db.QueryContext(ctx,
		`SELECT id, name, category, base_price_vnd, currency, active, updated_at
		   FROM services ORDER BY id LIMIT ? OFFSET ?`, size, (page-1)*size)
	if err != nil {
		return catalog.Page{}, fmt.Errorf("list services: %w", err)
	}
	defer rows.Close() //nolint:errcheck // rows.Err is checked below
	for rows.Next() {
		var svc catalog.Service
		if err := rows.Scan(&svc.ID, &svc.Name, &svc.Category, &svc.BasePrice, &svc.Currency, &svc.Active, &svc.UpdatedAt); err != nil {
			return catalog.Page{}, fmt.Errorf("scan service: %w", err)
		}
		p.Items = append(p.Items, svc)
	}
	if err := rows.Err(); err != nil {
		return catalog.Page{}, fmt.Errorf("list services: %w", err)
	}
	return p, nil
}

// GetService returns one catalog entry or catalog.ErrNotFound.
func (s *Store) GetService(ctx context.Context, id string) (catalog.Service, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var svc catalog.Service
	err := s.db.QueryRowContext(ctx,
		`SELECT id, name, category, base_price_vnd, currency, active, updated_at FROM services WHERE id = ?`, id).
		Scan(&svc.ID, &svc.Name, &svc.Category, &svc.BasePrice, &svc.Currency, &svc.Active, &svc.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return catalog.Service{}, catalog.ErrNotFound
	}
	if err != nil {
		return catalog.Service{}, fmt.Errorf("get service %s: %w", id, err)
	}
	return svc, nil
}

// UpsertService creates or replaces a catalog entry and reports whether it
// was created. svc must be valid (catalog.Service.Validate).
func (s *Store) UpsertService(ctx context.Context, svc catalog.Service) (catalog.Service, bool, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	res, err := s.db.ExecContext(ctx,
		`INSERT INTO services (id, name, category, base_price_vnd, currency, active)
		 VALUES (?, ?, ?, ?, ?, ?)
		 ON DUPLICATE KEY UPDATE name = VALUES(name), category = VALUES(category),
		   base_price_vnd = VALUES(base_price_vnd), currency = VALUES(currency), active = VALUES(active)`,
		svc.ID, svc.Name, svc.Category, svc.BasePrice, svc.Currency, svc.Active)
	if err != nil {
		return catalog.Service{}, false, fmt.Errorf("upsert service %s: %w", svc.ID, err)
	}
	// MySQL reports 1 affected row for an insert, 2 for an update, 0 when
	// nothing changed.
	n, err := res.RowsAffected()
	if err != nil {
		return catalog.Service{}, false, fmt.Errorf("upsert service %s: %w", svc.ID, err)
	}
	stored, err := s.GetService(ctx, svc.ID)
	if err != nil {
		return catalog.Service{}, false, err
	}
	return stored, n == 1, nil
}

// CreateOrder prices and inserts an order in one transaction: the service
// row is read with a shared lock so its price and active flag cannot change
// between the check and the insert. It returns order.ErrServiceUnavailable
// for an unknown or inactive service and order.ErrDuplicateKey when the
// customer already used the idempotency key.
func (s *Store) CreateOrder(ctx context.Context, n order.New) (order.Order, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return order.Order{}, fmt.Errorf("begin create order: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit

	var price int64
	var currency string
	var active bool
	err = tx.QueryRowContext(ctx,
		`SELECT base_price_vnd, currency, active FROM services WHERE id = ? LOCK IN SHARE MODE`, n.Request.ServiceID).
		Scan(&price, &currency, &active)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !active) {
		return order.Order{}, order.ErrServiceUnavailable
	}
	if err != nil {
		return order.Order{}, fmt.Errorf("read service %s: %w", n.Request.ServiceID, err)
	}
	o := order.Order{
		ServiceID:   n.Request.ServiceID,
		Quantity:    n.Request.Quantity,
		UnitPrice:   price,
		Total:       price * int64(n.Request.Quantity),
		Currency:    currency,
		Note:        n.Request.Note,
		Status:      order.StatusCreated,
		CreatedAt:   time.Now().UTC().Truncate(time.Microsecond),
		CustomerID:  n.CustomerID,
		RequestHash: n.RequestHash,
	}
	res, err := tx.ExecContext(ctx,
		`INSERT INTO orders (customer_id, service_id, quantity, unit_price_vnd, total_vnd, currency, note, status,
		                     idempotency_key, request_hash, created_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		o.CustomerID, o.ServiceID, o.Quantity, o.UnitPrice, o.Total, o.Currency, o.Note, o.Status,
		n.IdempotencyKey, n.RequestHash, o.CreatedAt)
	if err != nil {
		var me *mysql.MySQLError
		if errors.As(err, &me) {
			switch me.Number {
			case errDupEntry:
				return order.Order{}, order.ErrDuplicateKey
			case errNoReferenced:
				return order.Order{}, order.ErrServiceUnavailable
			case errCheckViolated:
				return order.Order{}, fmt.Errorf("insert order: constraint violated: %w", err)
			}
		}
		return order.Order{}, fmt.Errorf("insert order: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return order.Order{}, fmt.Errorf("insert order: %w", err)
	}
	o.ID = uint64(id) //nolint:gosec // AUTO_INCREMENT ids are positive
	if err := tx.Commit(); err != nil {
		return order.Order{}, fmt.Errorf("commit order: %w", err)
	}
	return o, nil
}

const orderColumns = `id, customer_id, service_id, quantity, unit_price_vnd, total_vnd, currency, note, status, request_hash, created_at`

func scanOrder(row *sql.Row) (order.Order, error) {
	var o order.Order
	err := row.Scan(&o.ID, &o.CustomerID, &o.ServiceID, &o.Quantity, &o.UnitPrice, &o.Total, &o.Currency,
		&o.Note, &o.Status, &o.RequestHash, &o.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return order.Order{}, order.ErrNotFound
	}
	return o, err
}

// GetOrder returns the customer's order id, or order.ErrNotFound when it
// does not exist or belongs to someone else (the two are not told apart, so
// ids of other customers' orders leak nothing).
func (s *Store) GetOrder(ctx context.Context, customerID string, id uint64) (order.Order, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	o, err := scanOrder(s.db.QueryRowContext(ctx,
		`SELECT `+orderColumns+` FROM orders WHERE id = ? AND customer_id = ?`, id, customerID))
	if err != nil && !errors.Is(err, order.ErrNotFound) {
		return order.Order{}, fmt.Errorf("get order %d: %w", id, err)
	}
	return o, err
}

// OrderByIdempotencyKey returns the order the customer created with key, or
// order.ErrNotFound.
func (s *Store) OrderByIdempotencyKey(ctx context.Context, customerID, key string) (order.Order, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	o, err := scanOrder(s.db.QueryRowContext(ctx,
		`SELECT `+orderColumns+` FROM orders WHERE customer_id = ? AND idempotency_key = ?`, customerID, key))
	if err != nil && !errors.Is(err, order.ErrNotFound) {
		return order.Order{}, fmt.Errorf("find order by idempotency key: %w", err)
	}
	return o, err
}
