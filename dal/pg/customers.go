package pg

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/learecordshop/recordshop/biz/model"
)

// Customers is the repository of the customers table.
type Customers struct {
	pool *pgxpool.Pool
}

// NewCustomers returns the customers repository on pool.
func NewCustomers(pool *pgxpool.Pool) *Customers { return &Customers{pool: pool} }

const customerColumns = `id, document, name, email, phone, to_char(birth_date, 'YYYY-MM-DD'), active, created_at, updated_at`

func scanCustomer(row pgx.Row) (model.Customer, error) {
	var c model.Customer
	err := row.Scan(&c.ID, &c.Document, &c.Name, &c.Email, &c.Phone, &c.BirthDate, &c.Active, &c.CreatedAt, &c.UpdatedAt)
	return c, err
}

const insertCustomer = `
INSERT INTO customers (document, name, email, phone, birth_date)
VALUES ($1, $2, $3, $4, $5::date)
RETURNING ` + customerColumns

// Create inserts a validated customer. A taken document or email is a *model.ConflictError.
func (r *Customers) Create(ctx context.Context, in model.CustomerCreate) (model.Customer, error) {
	c, err := scanCustomer(r.pool.QueryRow(ctx, insertCustomer, in.Document, in.Name, in.Email, in.Phone, in.BirthDate))
	return c, translate("customers.create", err)
}

const selectCustomer = `SELECT ` + customerColumns + ` FROM customers WHERE id = $1`

// Get returns one customer, or model.ErrNotFound.
func (r *Customers) Get(ctx context.Context, id int64) (model.Customer, error) {
	c, err := scanCustomer(r.pool.QueryRow(ctx, selectCustomer, id))
	return c, translate("customers.get", err)
}

const updateCustomer = `
UPDATE customers SET
    name       = COALESCE($2, name),
    email      = COALESCE($3, email),
    phone      = COALESCE($4, phone),
    birth_date = COALESCE($5::date, birth_date),
    updated_at = now()
WHERE id = $1
RETURNING ` + customerColumns

// Update applies a validated patch; absent fields keep their value.
func (r *Customers) Update(ctx context.Context, id int64, p model.CustomerPatch) (model.Customer, error) {
	c, err := scanCustomer(r.pool.QueryRow(ctx, updateCustomer, id, p.Name, p.Email, p.Phone, p.BirthDate))
	return c, translate("customers.update", err)
}

const setCustomerActive = `
UPDATE customers SET active = $2, updated_at = CASE WHEN active = $2 THEN updated_at ELSE now() END
WHERE id = $1
RETURNING ` + customerColumns

// SetActive deactivates or reactivates a customer; setting the state it already has changes nothing.
func (r *Customers) SetActive(ctx context.Context, id int64, active bool) (model.Customer, error) {
	c, err := scanCustomer(r.pool.QueryRow(ctx, setCustomerActive, id, active))
	return c, translate("customers.set_active", err)
}

// List returns one page of customers in id order.
func (r *Customers) List(ctx context.Context, q model.CustomerQuery) (model.List[model.Customer], error) {
	var w where
	if q.Name != "" {
		w.add("name ILIKE $%d", containsPattern(q.Name))
	}
	if q.Email != "" {
		w.add("email = $%d", q.Email)
	}
	if q.Document != "" {
		w.add("document = $%d", q.Document)
	}
	if q.Active != nil {
		w.add("active = $%d", *q.Active)
	}
	if q.After != nil {
		w.add("id > $%d", q.After.ID)
	}
	sql := `SELECT ` + customerColumns + ` FROM customers` + w.sql() +
		` ORDER BY id LIMIT ` + strconv.Itoa(q.Limit+1)
	rows, err := r.pool.Query(ctx, sql, w.args...)
	if err != nil {
		return model.List[model.Customer]{}, translate("customers.list", err)
	}
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (model.Customer, error) { return scanCustomer(row) })
	if err != nil {
		return model.List[model.Customer]{}, translate("customers.list", err)
	}
	return page(items, q.Limit, func(c model.Customer) model.Cursor { return model.Cursor{Sort: "id", ID: c.ID} }), nil
}

// where builds a WHERE clause of AND-ed conditions, each with its own numbered parameter.
type where struct {
	conds []string
	args  []any
}

// add appends a condition whose single %d is replaced by the number of arg's parameter.
func (w *where) add(cond string, arg any) {
	w.args = append(w.args, arg)
	w.conds = append(w.conds, fmt.Sprintf(cond, len(w.args)))
}

// addRaw appends a condition that takes no parameter.
func (w *where) addRaw(cond string) { w.conds = append(w.conds, cond) }

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// containsPattern makes an ILIKE pattern that finds s anywhere, with s's own % and _ taken literally.
func containsPattern(s string) string {
	return "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s) + "%"
}

// page trims the extra row that List fetched to learn whether another page follows, and makes its cursor.
func page[T any](items []T, limit int, cursor func(T) model.Cursor) model.List[T] {
	out := model.List[T]{Items: items}
	if out.Items == nil {
		out.Items = []T{}
	}
	if len(items) > limit {
		out.Items = items[:limit]
		next := cursor(items[limit-1])
		out.Next = &next
	}
	return out
}

// InactiveIDs returns the ids of every deactivated customer.
func (r *Customers) InactiveIDs(ctx context.Context) ([]int64, error) {
	rows, err := r.pool.Query(ctx, `SELECT id FROM customers WHERE NOT active ORDER BY id`)
	if err != nil {
		return nil, translate("customers.inactive_ids", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	return ids, translate("customers.inactive_ids", err)
}

// EachID calls each with the id of every customer (active or not), streaming the rows.
func (r *Customers) EachID(ctx context.Context, each func(id int64)) error {
	rows, err := r.pool.Query(ctx, `SELECT id FROM customers`)
	if err != nil {
		return translate("customers.each_id", err)
	}
	var id int64
	_, err = pgx.ForEachRow(rows, []any{&id}, func() error { each(id); return nil })
	return translate("customers.each_id", err)
}
