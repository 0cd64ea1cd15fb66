package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/smp/order-svc/internal/catalog"
	"github.com/smp/order-svc/internal/order"
	"github.com/smp/order-svc/internal/store"
	"github.com/smp/order-svc/internal/testenv"
)

func newStore(t *testing.T) (*store.Store, *testenv.Database) {
	t.Helper()
	d := testenv.NewMigratedDatabase(t)
	return store.New(d.DB, 3*time.Second), d
}

func TestCatalog(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	p, err := s.ListServices(ctx, 1, 4)
	if err != nil {
		t.Fatal(err)
	}
	if p.Total != 6 || len(p.Items) != 4 || p.Items[0].ID != "bulky-freight" || p.Items[3].ID != "intercity-delivery" {
		t.Fatalf("page 1 = %+v", p)
	}
	svc, err := s.GetService(ctx, "cod-collection")
	if err != nil || svc.BasePrice != 10000 || svc.Category != "payment" || !svc.Active || svc.UpdatedAt.IsZero() {
		t.Fatalf("GetService = %+v, %v", svc, err)
	}
	if _, err := s.GetService(ctx, "nope"); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("GetService(nope) err = %v", err)
	}

	created := catalog.Service{ID: "same-day", Name: "Trong ngày", Category: "delivery", BasePrice: 45000, Currency: "VND", Active: true}
	got, isNew, err := s.UpsertService(ctx, created)
	if err != nil || !isNew || got.Name != "Trong ngày" || got.BasePrice != 45000 {
		t.Fatalf("create: %+v new=%v %v", got, isNew, err)
	}
	created.BasePrice = 47000
	got, isNew, err = s.UpsertService(ctx, created)
	if err != nil || isNew || got.BasePrice != 47000 {
		t.Fatalf("update: %+v new=%v %v", got, isNew, err)
	}
	got, isNew, err = s.UpsertService(ctx, created)
	if err != nil || isNew {
		t.Fatalf("unchanged update: new=%v %v", isNew, err)
	}
	// The CHECK constraint is the database's own guard on prices.
	bad := created
	bad.BasePrice = -1
	if _, _, err := s.UpsertService(ctx, bad); err == nil {
		t.Error("negative price stored")
	}
}

func TestOrders(t *testing.T) {
	t.Parallel()
	s, d := newStore(t)
	ctx := context.Background()
	n := order.New{CustomerID: "cust-1", Request: order.Request{ServiceID: "intercity-delivery", Quantity: 4, Note: "n"}, IdempotencyKey: "k1", RequestHash: "h1"}
	o, err := s.CreateOrder(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	if o.ID == 0 || o.UnitPrice != 48000 || o.Total != 192000 || o.Status != order.StatusCreated || o.CustomerID != "cust-1" {
		t.Errorf("order = %+v", o)
	}
	got, err := s.GetOrder(ctx, "cust-1", o.ID)
	if err != nil || got != o {
		t.Errorf("GetOrder = %+v, %v; want %+v", got, err, o)
	}
	if _, err := s.GetOrder(ctx, "cust-2", o.ID); !errors.Is(err, order.ErrNotFound) {
		t.Errorf("another customer's order: err = %v", err)
	}
	byKey, err := s.OrderByIdempotencyKey(ctx, "cust-1", "k1")
	if err != nil || byKey != o {
		t.Errorf("OrderByIdempotencyKey = %+v, %v", byKey, err)
	}
	if _, err := s.OrderByIdempotencyKey(ctx, "cust-1", "k2"); !errors.Is(err, order.ErrNotFound) {
		t.Errorf("unused key: err = %v", err)
	}

	if _, err := s.CreateOrder(ctx, n); !errors.Is(err, order.ErrDuplicateKey) {
		t.Errorf("same key again: err = %v", err)
	}
	for _, svc := range []string{"bulky-freight", "no-such-service"} {
		m := n
		m.IdempotencyKey = "k-" + svc
		m.Request.ServiceID = svc
		if _, err := s.CreateOrder(ctx, m); !errors.Is(err, order.ErrServiceUnavailable) {
			t.Errorf("%s: err = %v", svc, err)
		}
	}
	neg := n
	neg.IdempotencyKey = "k-neg"
	neg.Request.Quantity = -2
	if _, err := s.CreateOrder(ctx, neg); err == nil || errors.Is(err, order.ErrDuplicateKey) {
		t.Errorf("negative quantity: err = %v, want the CHECK constraint to refuse it", err)
	}
	var count int
	if err := d.DB.QueryRow("SELECT COUNT(*) FROM orders").Scan(&count); err != nil || count != 1 {
		t.Errorf("%d orders (%v), want 1", count, err)
	}
}

func TestClosedDatabaseErrorsAreWrapped(t *testing.T) {
	t.Parallel()
	s, d := newStore(t)
	_ = d.DB.Close()
	ctx := context.Background()
	checks := map[string]error{}
	checks["Ping"] = s.Ping(ctx)
	_, checks["ListServices"] = s.ListServices(ctx, 1, 1)
	_, checks["GetService"] = s.GetService(ctx, "x")
	_, _, checks["UpsertService"] = s.UpsertService(ctx, catalog.Service{ID: "x"})
	_, checks["CreateOrder"] = s.CreateOrder(ctx, order.New{})
	_, checks["GetOrder"] = s.GetOrder(ctx, "c", 1)
	_, checks["OrderByIdempotencyKey"] = s.OrderByIdempotencyKey(ctx, "c", "k")
	for name, err := range checks {
		if err == nil {
			t.Errorf("%s on a closed pool succeeded", name)
		} else if errors.Is(err, order.ErrNotFound) || errors.Is(err, catalog.ErrNotFound) {
			t.Errorf("%s: a closed pool reported not-found: %v", name, err)
		}
	}
}
