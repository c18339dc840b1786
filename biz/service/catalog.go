// Package service holds recordshop's rules: the catalog, customers and (later) orders and reconciliation.
// It takes context.Context and plain model types, and declares the small interfaces it needs from dal.
package service

import (
	"context"

	"github.com/learecordshop/recordshop/biz/model"
)

// DiscStore is what the catalog needs from the Postgres discs repository.
type DiscStore interface {
	Create(ctx context.Context, in model.DiscCreate) (model.Disc, error)
	Get(ctx context.Context, id int64) (model.Disc, error)
	List(ctx context.Context, q model.DiscQuery) (model.List[model.Disc], error)
	Update(ctx context.Context, id int64, p model.DiscPatch) (model.Disc, error)
	Restock(ctx context.Context, id, delta int64) (model.Disc, error)
	Delete(ctx context.Context, id int64) (archived bool, d model.Disc, err error)
}

// Catalog manages the discs for sale. Postgres is the source of truth for the catalog.
type Catalog struct {
	discs DiscStore
}

// NewCatalog returns the catalog service over discs.
func NewCatalog(discs DiscStore) *Catalog { return &Catalog{discs: discs} }

// Create adds a validated disc.
func (s *Catalog) Create(ctx context.Context, in model.DiscCreate) (model.Disc, error) {
	return s.discs.Create(ctx, in)
}

// Get returns one disc.
func (s *Catalog) Get(ctx context.Context, id int64) (model.Disc, error) { return s.discs.Get(ctx, id) }

// List returns one page of discs.
func (s *Catalog) List(ctx context.Context, q model.DiscQuery) (model.List[model.Disc], error) {
	return s.discs.List(ctx, q)
}

// Update changes the fields given in p.
func (s *Catalog) Update(ctx context.Context, id int64, p model.DiscPatch) (model.Disc, error) {
	return s.discs.Update(ctx, id, p)
}

// Restock adds (or, negative, removes) units; stock never goes below zero.
func (s *Catalog) Restock(ctx context.Context, id, delta int64) (model.Disc, error) {
	return s.discs.Restock(ctx, id, delta)
}

// Delete removes a disc nobody ordered, or archives one with orders; archived reports which happened.
func (s *Catalog) Delete(ctx context.Context, id int64) (archived bool, d model.Disc, err error) {
	return s.discs.Delete(ctx, id)
}
