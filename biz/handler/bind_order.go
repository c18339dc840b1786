package handler

import "github.com/learecordshop/recordshop/biz/model"

// decodeOrderCreate reads the body every POST /v1/orders of a launch sends, {"customer_id":N,"disc_id":N,
// "quantity":N}, without reflection: on a sold-out disc, encoding/json was the largest piece of the request's
// own CPU after the socket writes. It accepts only the plain shape (known keys, each once, no escapes, whole
// numbers of at most 18 digits, JSON whitespace) and reports false for anything else, which then goes through
// decodeBody and gets its precise refusal. What it accepts, decodeBody accepts the same way (FuzzOrderFastPath).
func decodeOrderCreate(body []byte, dst *model.OrderCreate) bool {
	var out model.OrderCreate
	var seen [3]bool
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return false
	}
	i = skipSpace(body, i+1)
	if i < len(body) && body[i] == '}' {
		return finishOrder(body, i+1, &out, dst)
	}
	for {
		field, next := orderKey(body, i)
		if field < 0 || seen[field] {
			return false
		}
		seen[field] = true
		i = skipSpace(body, next)
		if i >= len(body) || body[i] != ':' {
			return false
		}
		n, next, ok := wholeNumber(body, skipSpace(body, i+1))
		if !ok {
			return false
		}
		switch field {
		case 0:
			out.CustomerID = n
		case 1:
			out.DiscID = n
		default:
			out.Quantity = int(n)
		}
		i = skipSpace(body, next)
		if i >= len(body) {
			return false
		}
		if body[i] == '}' {
			return finishOrder(body, i+1, &out, dst)
		}
		if body[i] != ',' {
			return false
		}
		i = skipSpace(body, i+1)
	}
}

// finishOrder takes out when nothing but whitespace follows the object's closing brace at end.
func finishOrder(body []byte, end int, out, dst *model.OrderCreate) bool {
	if skipSpace(body, end) != len(body) {
		return false
	}
	*dst = *out
	return true
}

// orderKey reads the quoted key at body[i]: 0 customer_id, 1 disc_id, 2 quantity, -1 anything else.
func orderKey(body []byte, i int) (field, next int) {
	for f, k := range [...]string{`"customer_id"`, `"disc_id"`, `"quantity"`} {
		if len(body)-i >= len(k) && string(body[i:i+len(k)]) == k {
			return f, i + len(k)
		}
	}
	return -1, i
}

// wholeNumber reads a JSON integer of at most 18 digits at body[i] (no fraction, no exponent, no leading zero).
func wholeNumber(body []byte, i int) (n int64, next int, ok bool) {
	neg := i < len(body) && body[i] == '-'
	if neg {
		i++
	}
	start := i
	for i < len(body) && body[i] >= '0' && body[i] <= '9' {
		n = n*10 + int64(body[i]-'0')
		i++
	}
	digits := i - start
	if digits == 0 || digits > 18 || (digits > 1 && body[start] == '0') {
		return 0, i, false
	}
	if i < len(body) && (body[i] == '.' || body[i] == 'e' || body[i] == 'E') {
		return 0, i, false
	}
	if neg {
		n = -n
	}
	return n, i, true
}
