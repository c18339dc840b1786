package model

import (
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Customer is a buyer. Customers are never deleted, only deactivated; an inactive customer cannot buy.
type Customer struct {
	ID        int64     `json:"id"`
	Document  string    `json:"document"`
	Name      string    `json:"name"`
	Email     string    `json:"email"`
	Phone     string    `json:"phone"`
	BirthDate string    `json:"birth_date"`
	Active    bool      `json:"active"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// CustomerCreate is the body of POST /v1/customers.
type CustomerCreate struct {
	Document  string `json:"document"`
	Name      string `json:"name"`
	Email     string `json:"email"`
	Phone     string `json:"phone"`
	BirthDate string `json:"birth_date"`
}

// Validate checks every field and normalises it in place: the document to its eleven digits, the email to lower
// case, the phone to digits with an optional leading +.
func (c *CustomerCreate) Validate(now time.Time) error {
	v := fieldErrors{in: "body"}
	if c.Document == "" {
		v.add("document", "is required")
	} else if d, ok := NormalizeCPF(c.Document); ok {
		c.Document = d
	} else {
		v.add("document", "must be a valid CPF (11 digits with correct check digits)")
	}
	c.Name = checkName(&v, "name", c.Name)
	c.Email = checkEmail(&v, c.Email)
	c.Phone = checkPhone(&v, c.Phone)
	checkBirthDate(&v, c.BirthDate, now)
	return v.err()
}

// CustomerPatch is the body of PATCH /v1/customers/{id}: absent fields keep their value. The document is the
// customer's identity and cannot be changed; active changes through deactivate and reactivate.
type CustomerPatch struct {
	Name      *string `json:"name"`
	Email     *string `json:"email"`
	Phone     *string `json:"phone"`
	BirthDate *string `json:"birth_date"`
}

// Validate checks and normalises the fields that are present.
func (p *CustomerPatch) Validate(now time.Time) error {
	v := fieldErrors{in: "body"}
	if p.Name == nil && p.Email == nil && p.Phone == nil && p.BirthDate == nil {
		v.add("", "give at least one of name, email, phone, birth_date")
	}
	if p.Name != nil {
		*p.Name = checkName(&v, "name", *p.Name)
	}
	if p.Email != nil {
		*p.Email = checkEmail(&v, *p.Email)
	}
	if p.Phone != nil {
		*p.Phone = checkPhone(&v, *p.Phone)
	}
	if p.BirthDate != nil {
		checkBirthDate(&v, *p.BirthDate, now)
	}
	return v.err()
}

// checkName trims s and checks it is a required, printable text of 1 to 200 characters.
func checkName(v *fieldErrors, field, s string) string {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		v.add(field, "is required")
	case !utf8.ValidString(s) || strings.IndexFunc(s, unicode.IsControl) >= 0:
		v.add(field, "must be printable text")
	case utf8.RuneCountInString(s) > 200:
		v.add(field, "must be at most 200 characters")
	}
	return s
}

func checkEmail(v *fieldErrors, s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		v.add("email", "is required")
		return s
	}
	addr, err := mail.ParseAddress(s)
	at := strings.LastIndexByte(s, '@')
	if err != nil || addr.Address != s || len(s) > 254 || at < 1 || !strings.Contains(s[at+1:], ".") {
		v.add("email", "must be a plain email address like ana@example.com")
	}
	return s
}

var phonePattern = regexp.MustCompile(`^\+?[0-9]{8,15}$`)

// checkPhone accepts the usual separators and keeps digits with an optional leading +. Empty means no phone.
func checkPhone(v *fieldErrors, s string) string {
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '(' || r == ')' || r == '.' {
			return -1
		}
		return r
	}, s)
	if s != "" && !phonePattern.MatchString(s) {
		v.add("phone", "must be 8 to 15 digits, optionally starting with +")
	}
	return s
}

func checkBirthDate(v *fieldErrors, s string, now time.Time) {
	if s == "" {
		v.add("birth_date", "is required")
		return
	}
	d, err := time.Parse(time.DateOnly, s)
	switch {
	case err != nil:
		v.add("birth_date", "must be a date as YYYY-MM-DD")
	case d.Year() < 1900:
		v.add("birth_date", "must be 1900-01-01 or later")
	case d.After(now):
		v.add("birth_date", "must not be in the future")
	}
}
