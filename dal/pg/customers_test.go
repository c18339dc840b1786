package pg_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/dal/pg"
	"github.com/learecordshop/recordshop/dal/testenv"
)

func newCustomer(i int) model.CustomerCreate {
	return model.CustomerCreate{Document: model.CPFFromSeed(int64(200_000_000 + i)), Name: fmt.Sprintf("Buyer %03d", i),
		Email: fmt.Sprintf("buyer%03d@example.com", i), BirthDate: "1990-01-01"}
}

func TestCustomersCreateGetUpdate(t *testing.T) {
	ctx := context.Background()
	repo := pg.NewCustomers(testenv.PG(t))
	c, err := repo.Create(ctx, newCustomer(1))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Active || c.ID == 0 || c.BirthDate != "1990-01-01" {
		t.Fatalf("created customer = %+v", c)
	}
	got, err := repo.Get(ctx, c.ID)
	if err != nil || got != c {
		t.Fatalf("Get = %+v, %v; want %+v", got, err, c)
	}
	name, phone := "Renamed", "+5511999990000"
	upd, err := repo.Update(ctx, c.ID, model.CustomerPatch{Name: &name, Phone: &phone})
	if err != nil || upd.Name != name || upd.Phone != phone || upd.Email != c.Email || !upd.UpdatedAt.After(c.UpdatedAt) {
		t.Fatalf("Update = %+v, %v", upd, err)
	}
	off, err := repo.SetActive(ctx, c.ID, false)
	if err != nil || off.Active {
		t.Fatalf("SetActive(false) = %+v, %v", off, err)
	}
	again, err := repo.SetActive(ctx, c.ID, false)
	if err != nil || !again.UpdatedAt.Equal(off.UpdatedAt) {
		t.Fatalf("deactivating twice changed updated_at: %v -> %v (%v)", off.UpdatedAt, again.UpdatedAt, err)
	}
	if _, err := repo.Get(ctx, 9999); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("Get(missing) err = %v; want ErrNotFound", err)
	}
	if _, err := repo.Update(ctx, 9999, model.CustomerPatch{Name: &name}); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("Update(missing) err = %v; want ErrNotFound", err)
	}
}

func TestCustomersUniqueDocumentAndEmail(t *testing.T) {
	ctx := context.Background()
	repo := pg.NewCustomers(testenv.PG(t))
	first := newCustomer(1)
	if _, err := repo.Create(ctx, first); err != nil {
		t.Fatal(err)
	}
	sameDoc, sameEmail := newCustomer(2), newCustomer(3)
	sameDoc.Document = first.Document
	sameEmail.Email = first.Email
	for _, tt := range []struct {
		in    model.CustomerCreate
		field string
	}{{sameDoc, "document"}, {sameEmail, "email"}} {
		_, err := repo.Create(ctx, tt.in)
		var conflict *model.ConflictError
		if !errors.As(err, &conflict) || conflict.Field() != tt.field {
			t.Fatalf("duplicate %s: err = %v; want a conflict on %s", tt.field, err, tt.field)
		}
	}
	second, err := repo.Create(ctx, newCustomer(4))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Update(ctx, second.ID, model.CustomerPatch{Email: &first.Email}); !isConflict(err, "email") {
		t.Fatalf("update to a taken email: err = %v; want a conflict on email", err)
	}
}

func isConflict(err error, field string) bool {
	var conflict *model.ConflictError
	return errors.As(err, &conflict) && conflict.Field() == field
}

func TestCustomersListFilters(t *testing.T) {
	ctx := context.Background()
	repo := pg.NewCustomers(testenv.PG(t))
	var ids []int64
	for i := 1; i <= 7; i++ {
		in := newCustomer(i)
		if i == 3 {
			in.Name = "Lea Leitora"
		}
		c, err := repo.Create(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	if _, err := repo.SetActive(ctx, ids[5], false); err != nil {
		t.Fatal(err)
	}
	yes, no := true, false
	tests := []struct {
		name string
		q    model.CustomerQuery
		want []int64
	}{
		{"all", model.CustomerQuery{}, ids},
		{"name contains, any case", model.CustomerQuery{Name: "LEITO"}, ids[2:3]},
		{"name with a literal percent finds nothing", model.CustomerQuery{Name: "%"}, nil},
		{"email", model.CustomerQuery{Email: "buyer005@example.com"}, ids[4:5]},
		{"document", model.CustomerQuery{Document: model.CPFFromSeed(200_000_002)}, ids[1:2]},
		{"active", model.CustomerQuery{Active: &yes}, append(append([]int64{}, ids[:5]...), ids[6])},
		{"inactive", model.CustomerQuery{Active: &no}, ids[5:6]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.q.Limit = 100
			list, err := repo.List(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, customerIDs(list.Items)); diff != "" {
				t.Fatalf("ids (-want +got):\n%s", diff)
			}
			if list.Next != nil {
				t.Fatalf("a single page has a next cursor %+v", *list.Next)
			}
		})
	}
	t.Run("pages of 3", func(t *testing.T) {
		var got []int64
		q, _ := model.ParseCustomerQuery(url.Values{"limit": {"3"}}, cursors)
		for pages := 0; ; pages++ {
			if pages > 5 {
				t.Fatal("pagination does not end")
			}
			list, err := repo.List(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, customerIDs(list.Items)...)
			if list.Next == nil {
				break
			}
			if q, err = model.ParseCustomerQuery(url.Values{"limit": {"3"}, "cursor": {cursors.Encode(*list.Next)}}, cursors); err != nil {
				t.Fatal(err)
			}
		}
		if diff := cmp.Diff(ids, got); diff != "" {
			t.Fatalf("ids over all pages (-want +got):\n%s", diff)
		}
	})
}

func customerIDs(cs []model.Customer) []int64 {
	var out []int64
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}
