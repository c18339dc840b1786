package model_test

import (
	"testing"

	"github.com/learecordshop/recordshop/biz/model"
)

func TestNormalizeCPF(t *testing.T) {
	tests := []struct {
		in     string
		want   string
		wantOK bool
	}{
		{"529.982.247-25", "52998224725", true},
		{"52998224725", "52998224725", true},
		{" 529 982 247 25 ", "52998224725", true},
		{"529.982.247-24", "", false}, // second check digit wrong
		{"529.982.247-15", "", false}, // first check digit wrong
		{"111.111.111-11", "", false}, // repeated digits pass the arithmetic but are not issued
		{"00000000000", "", false},
		{"5299822472", "", false},   // ten digits
		{"529982247255", "", false}, // twelve digits
		{"529.982.247/25", "", false},
		{"52998224a25", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := model.NormalizeCPF(tt.in)
			if got != tt.want || ok != tt.wantOK {
				t.Fatalf("NormalizeCPF(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestCPFFromSeedIsValidAndDistinct(t *testing.T) {
	seen := map[string]int64{}
	for _, n := range []int64{1, 9, 111111111, 222222222, 999999999, 100000001, 1234567890123} {
		cpf := model.CPFFromSeed(n)
		if got, ok := model.NormalizeCPF(cpf); !ok || got != cpf {
			t.Fatalf("CPFFromSeed(%d) = %q is not a valid CPF", n, cpf)
		}
		if prev, dup := seen[cpf]; dup && prev%1_000_000_000 != n%1_000_000_000 {
			t.Fatalf("CPFFromSeed(%d) and (%d) both gave %q", n, prev, cpf)
		}
		seen[cpf] = n
	}
}
