package model

import (
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

// checkName trims s and checks it is a required text of 1 to MaxTextLen characters that shows something (see
// textProblem and visible for the rule).
func checkName(v *fieldErrors, field, s string) string {
	msg := textProblem(s) // before trimming: a control character is refused wherever it stands
	s = trimText(s)
	switch {
	case msg != "":
		v.add(field, "%s", msg)
	case s == "":
		v.add(field, "is required")
	case !visible(s):
		v.add(field, "must hold at least one visible character")
	case utf8.RuneCountInString(s) > MaxTextLen:
		v.add(field, "must be at most %d characters", MaxTextLen)
	}
	return s
}

func checkEmail(v *fieldErrors, s string) string {
	s = strings.TrimSpace(s)
	if strings.IndexFunc(s, func(r rune) bool { return r > unicode.MaxASCII }) >= 0 {
		// Checked before lower-casing: strings.ToLower maps the Kelvin sign to "k" and "İ" to "i", and
		// would store another address than the one given.
		v.add("email", "must be a plain ASCII email address like ana@example.com")
		return s
	}
	s = strings.ToLower(s)
	if s == "" {
		v.add("email", "is required")
		return s
	}
	// The address is ASCII: a plain local part and a host name of letters, digits and hyphens (an
	// internationalised domain is written in its xn-- form). net/mail would also take quoted local parts,
	// comments and display names, which no mailer of ours sends to.
	if len(s) > 254 || !emailPattern.MatchString(s) {
		v.add("email", "must be a plain email address like ana@example.com")
	}
	return s
}

var (
	phonePattern = regexp.MustCompile(`^\+?[0-9]{8,15}$`)
	emailPattern = regexp.MustCompile("^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$")
)

// checkPhone accepts the usual separators and keeps digits with an optional leading +. Empty (or only spaces)
// means no phone; anything else must hold 8 to 15 digits, so "()-" is refused rather than stored as no phone.
func checkPhone(v *fieldErrors, s string) string {
	if strings.TrimSpace(s) == "" {
		return ""
	}
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '(' || r == ')' || r == '.' {
			return -1
		}
		return r
	}, s)
	if !phonePattern.MatchString(s) {
		v.add("phone", "must be 8 to 15 digits, optionally starting with + (spaces, dots, dashes and parentheses are ignored)")
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
