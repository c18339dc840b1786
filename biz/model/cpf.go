package model

import "strings"

// NormalizeCPF strips the usual punctuation of a CPF ("529.982.247-25") and reports whether what is left is
// eleven digits whose two check digits are right. Repeated-digit numbers (111.111.111-11) pass the arithmetic
// but are not issued, so they are refused too.
func NormalizeCPF(s string) (string, bool) {
	digits := strings.Map(func(r rune) rune {
		switch {
		case r >= '0' && r <= '9':
			return r
		case r == '.' || r == '-' || r == ' ':
			return -1
		}
		return 'x' // anything else makes the number invalid
	}, s)
	if len(digits) != 11 || strings.ContainsRune(digits, 'x') {
		return "", false
	}
	if strings.Count(digits, digits[:1]) == 11 {
		return "", false
	}
	if cpfCheckDigit(digits[:9]) != digits[9] || cpfCheckDigit(digits[:10]) != digits[10] {
		return "", false
	}
	return digits, true
}

// CPFFromSeed builds a valid CPF from any number: its first nine digits are n mod 10^9 (zero-padded), then
// the two check digits. Seeds and tests use it to make many distinct, valid documents: distinct n below 10^9
// give distinct CPFs, except that the ten repeated-digit prefixes (0, 111111111, ...) borrow their neighbour's.
func CPFFromSeed(n int64) string {
	b := []byte("000000000")
	for i, v := 8, n%1_000_000_000; i >= 0; i, v = i-1, v/10 {
		b[i] = byte('0' + v%10)
	}
	s := string(b)
	if strings.Count(s, s[:1]) == 9 { // all nine alike would give a refused repeated-digit number
		s = s[:8] + string('0'+(s[8]-'0'+1)%10)
	}
	s += string(cpfCheckDigit(s))
	return s + string(cpfCheckDigit(s))
}

// cpfCheckDigit computes the next check digit of a CPF prefix of 9 or 10 digits (weights n+1 down to 2).
func cpfCheckDigit(prefix string) byte {
	sum, weight := 0, len(prefix)+1
	for i := 0; i < len(prefix); i++ {
		sum += int(prefix[i]-'0') * weight
		weight--
	}
	d := sum * 10 % 11
	if d == 10 {
		d = 0
	}
	return byte('0' + d)
}
