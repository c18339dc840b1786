package service

import (
	"context"

	"github.com/learecordshop/recordshop/biz/model"
)

// CustomerStore is what the customer service needs from the Postgres customers repository.
type CustomerStore interface {
	Create(ctx context.Context, in model.CustomerCreate) (model.Customer, error)
	Get(ctx context.Context, id int64) (model.Customer, error)
	List(ctx context.Context, q model.CustomerQuery) (model.List[model.Customer], error)
	Update(ctx context.Context, id int64, p model.CustomerPatch) (model.Customer, error)
	SetActive(ctx context.Context, id int64, active bool) (model.Customer, error)
}

// InactiveSetter is where the order path learns that a customer may not buy. In Redis mode that is the
// inactive-customer sets reserve.lua checks (*rsredis.Gate); in Postgres mode the order's own transaction
// reads the customer's active flag, so there is nothing more to tell (PostgresInactive).
type InactiveSetter interface {
	SetInactive(ctx context.Context, customerID int64, inactive bool) error
}

// PostgresInactive is the InactiveSetter of a shop that reserves in Postgres only: Postgres has recorded the
// change already, and that is where the order path looks.
type PostgresInactive struct{}

// SetInactive does nothing.
func (PostgresInactive) SetInactive(context.Context, int64, bool) error { return nil }

// Customers manages buyers. They are never deleted: deactivation keeps the row and stops them buying.
type Customers struct {
	store    CustomerStore
	inactive InactiveSetter
}

// NewCustomers returns the customer service over store; inactive carries deactivations to the order path.
func NewCustomers(store CustomerStore, inactive InactiveSetter) *Customers {
	return &Customers{store: store, inactive: inactive}
}

// Create signs a validated customer up.
func (s *Customers) Create(ctx context.Context, in model.CustomerCreate) (model.Customer, error) {
	return s.store.Create(ctx, in)
}

// Get returns one customer.
func (s *Customers) Get(ctx context.Context, id int64) (model.Customer, error) {
	return s.store.Get(ctx, id)
}

// List returns one page of customers.
func (s *Customers) List(ctx context.Context, q model.CustomerQuery) (model.List[model.Customer], error) {
	return s.store.List(ctx, q)
}

// Update changes the fields given in p.
func (s *Customers) Update(ctx context.Context, id int64, p model.CustomerPatch) (model.Customer, error) {
	return s.store.Update(ctx, id, p)
}

// SetActive deactivates or reactivates a customer. Postgres records it first; then the order path's inactive
// set (in Redis mode every partition's, so the refusal happens inside the atomic reservation). If that fails,
// the error is returned and the call can be repeated safely (both steps are idempotent).
func (s *Customers) SetActive(ctx context.Context, id int64, active bool) (model.Customer, error) {
	c, err := s.store.SetActive(ctx, id, active)
	if err != nil {
		return c, err
	}
	return c, s.inactive.SetInactive(ctx, id, !active)
}

// InactiveIDs is what SyncInactive needs: every deactivated customer.
type InactiveIDs interface {
	InactiveIDs(ctx context.Context) ([]int64, error)
}

// InactiveAdder writes many deactivated customers into Redis at once (*rsredis.Gate).
type InactiveAdder interface {
	AddInactive(ctx context.Context, customerIDs []int64) error
}

// SyncInactive writes every deactivated customer into Redis (start-up, and after Redis lost its data), in
// bulk: its cost is the number of inactive customers, a pipeline per few thousand.
func SyncInactive(ctx context.Context, from InactiveIDs, gate InactiveAdder) error {
	ids, err := from.InactiveIDs(ctx)
	if err != nil {
		return err
	}
	return gate.AddInactive(ctx, ids)
}
