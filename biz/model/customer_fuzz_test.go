package model_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/learecordshop/recordshop/biz/model"
)

// fuzzNow is the clock of the fuzz targets.
var fuzzNow = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// fuzzCustomer is a valid customer: a fuzz target changes one field and sees what Validate makes of it.
func fuzzCustomer() model.CustomerCreate {
	return model.CustomerCreate{Document: "529.982.247-25", Name: "Ana", Email: "ana@example.com",
		Phone: "+55 11 91234-5678", BirthDate: "1990-05-17"}
}

// FuzzNormalizeCPF: an accepted document is eleven ASCII digits, and normalising it again changes nothing (the
// stored form is the form a lookup by document normalises to).
func FuzzNormalizeCPF(f *testing.F) {
	for _, s := range []string{"529.982.247-25", " 529 982 247 25 ", "111.111.111-11", "５２９９８２２４７２５", "52998224725\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := model.NormalizeCPF(s)
		if !ok {
			return
		}
		if len(got) != 11 || strings.Trim(got, "0123456789") != "" {
			t.Fatalf("NormalizeCPF(%q) = %q; want 11 ASCII digits", s, got)
		}
		if again, ok := model.NormalizeCPF(got); again != got || !ok {
			t.Fatalf("NormalizeCPF(%q) = %q, %v; want it unchanged", got, again, ok)
		}
	})
}

// FuzzCustomerEmail runs any email through CustomerCreate and CustomerPatch: both take the same addresses and
// store the same form of them, a plain lower-case ASCII address with one @. What is stored is what the client
// sent, trimmed and lower-cased, never another address.
func FuzzCustomerEmail(f *testing.F) {
	for _, s := range []string{" Ana@Example.COM ", "ana@@example.com", "ana@example.com\x00", "Ana <ana@example.com>",
		strings.Repeat("a", 243) + "@example.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, email string) {
		c := fuzzCustomer()
		c.Email = email
		createErr := c.Validate(fuzzNow)
		onlyField(t, createErr, "email")
		patched := email // Validate normalises in place
		p := model.CustomerPatch{Email: &patched}
		patchErr := p.Validate(fuzzNow)
		onlyField(t, patchErr, "email")
		if (createErr == nil) != (patchErr == nil) || c.Email != *p.Email {
			t.Fatalf("email %q: create stores %q (%v), patch stores %q (%v); want the same", email, c.Email, createErr, *p.Email, patchErr)
		}
		if createErr != nil {
			return
		}
		got := c.Email
		if len(got) > 254 || strings.Count(got, "@") != 1 || strings.HasPrefix(got, "@") || strings.HasSuffix(got, "@") {
			t.Fatalf("email %q accepted as %q; want at most 254 bytes with one @ between a local part and a host", email, got)
		}
		for i := 0; i < len(got); i++ {
			if b := got[i]; b < 0x21 || b > 0x7e || ('A' <= b && b <= 'Z') {
				t.Fatalf("email %q accepted as %q; want lower-case printable ASCII", email, got)
			}
		}
		// Lower-casing must not be what makes an address ASCII: the Kelvin sign and the dotted capital I
		// lower-case to k and i, and the address sent was not the one stored.
		if want := asciiLower(strings.TrimSpace(email)); got != want {
			t.Fatalf("email %q accepted as %q; want only an ASCII address, stored as sent, trimmed and lower-cased (%q)", email, got, want)
		}
	})
}

// FuzzCustomerPhone runs any phone through CustomerCreate and CustomerPatch: an accepted phone is an optional +
// and 8 to 15 ASCII digits, the digits the client sent in their order; no phone only when none was sent.
func FuzzCustomerPhone(f *testing.F) {
	for _, s := range []string{"+55 (11) 91234-5678", "", " \t", "()-", "+1", "１２３４５６７８", "+55\u200b11912345678", "1234567\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, phone string) {
		c := fuzzCustomer()
		c.Phone = phone
		createErr := c.Validate(fuzzNow)
		onlyField(t, createErr, "phone")
		patched := phone
		p := model.CustomerPatch{Phone: &patched}
		patchErr := p.Validate(fuzzNow)
		onlyField(t, patchErr, "phone")
		if (createErr == nil) != (patchErr == nil) || c.Phone != *p.Phone {
			t.Fatalf("phone %q: create stores %q (%v), patch stores %q (%v); want the same", phone, c.Phone, createErr, *p.Phone, patchErr)
		}
		if createErr != nil {
			return
		}
		got := c.Phone
		if got == "" {
			if strings.TrimSpace(phone) != "" {
				t.Fatalf("phone %q accepted as no phone; only a blank one may be", phone)
			}
			return
		}
		digits := strings.TrimPrefix(got, "+")
		if len(digits) < 8 || len(digits) > 15 || strings.Trim(digits, "0123456789") != "" {
			t.Fatalf("phone %q accepted as %q; want an optional + and 8 to 15 digits", phone, got)
		}
		if sent := strings.Map(asciiDigit, phone); digits != sent {
			t.Fatalf("phone %q accepted as %q; want the digits sent, %q", phone, got, sent)
		}
	})
}

// onlyField fails unless err is nil or a body ValidationError about field alone (the fuzz targets change one
// field of a valid body).
func onlyField(t *testing.T, err error, field string) {
	t.Helper()
	if err == nil {
		return
	}
	var v *model.ValidationError
	if !errors.As(err, &v) || v.In != "body" {
		t.Fatalf("Validate refused with %T %v; want a *model.ValidationError in body", err, err)
	}
	for _, fe := range v.Fields {
		if fe.Field != field {
			t.Fatalf("Validate refused %q (%v); only %q was changed", fe.Field, err, field)
		}
	}
}

// asciiLower lower-cases the ASCII letters of s and nothing else.
func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

func asciiDigit(r rune) rune {
	if '0' <= r && r <= '9' {
		return r
	}
	return -1
}
