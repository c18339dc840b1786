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

// Customers manages buyers. They are never deleted: deactivation keeps the row and stops them buying.
type Customers struct {
	store CustomerStore
}

// NewCustomers returns the customer service over store.
func NewCustomers(store CustomerStore) *Customers { return &Customers{store: store} }

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

// SetActive deactivates or reactivates a customer.
func (s *Customers) SetActive(ctx context.Context, id int64, active bool) (model.Customer, error) {
	return s.store.SetActive(ctx, id, active)
}
