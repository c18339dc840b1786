package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/dal/pg"
)

// The launch disc of the demo: the one a launch day is about.
const (
	launchName   = "We are Reactive"
	launchArtist = "Hohpe"
)

// runSeed loads the demo catalog and customers into RS_PG_URL, once; --discs N adds N generated discs and
// --customers N makes sure the generated customers 1..N exist.
func runSeed(ctx context.Context, cfg config, stdout, _ io.Writer) error {
	if err := cfg.validate(true, false, false); err != nil {
		return err
	}
	if cfg.SeedDiscs < 0 || cfg.SeedDiscs > 1_000_000 {
		return errors.New("seed: --discs must be between 0 and 1000000")
	}
	if cfg.SeedCustomers < 0 || cfg.SeedCustomers > maxSeedCustomers {
		return fmt.Errorf("seed: --customers must be between 0 and %d", maxSeedCustomers)
	}
	pool, err := pg.Connect(ctx, cfg.PGURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := pg.Migrate(ctx, pool); err != nil {
		return err
	}
	now := time.Now()
	if err := seed(ctx, pool, cfg.SeedDiscs, now, stdout); err != nil {
		return err
	}
	if cfg.SeedCustomers > 0 {
		return seedCustomers(ctx, pool, cfg.SeedCustomers, now, stdout)
	}
	return nil
}

// seed loads the demo data unless it is there already, then generates extra discs.
func seed(ctx context.Context, pool *pgxpool.Pool, extraDiscs int, now time.Time, stdout io.Writer) error {
	discs, customers := pg.NewDiscs(pool), pg.NewCustomers(pool)
	_, err := discs.FindByNameArtist(ctx, launchName, launchArtist)
	switch {
	case errors.Is(err, model.ErrNotFound):
		catalog, buyers := demoCatalog(now), demoCustomers()
		if err := discs.CreateMany(ctx, catalog); err != nil {
			return err
		}
		if err := createCustomers(ctx, customers, buyers); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "seed: loaded the demo catalog (%d discs) and %d customers\n", len(catalog), len(buyers))
	case err != nil:
		return err
	default:
		fmt.Fprintln(stdout, "seed: the demo catalog is already there")
	}
	if extraDiscs > 0 {
		const batch = 1000
		for done := 0; done < extraDiscs; done += batch {
			if err := discs.CreateMany(ctx, generatedDiscs(done, min(batch, extraDiscs-done), now)); err != nil {
				return err
			}
		}
		fmt.Fprintf(stdout, "seed: generated %d discs\n", extraDiscs)
	}
	return nil
}

func createCustomers(ctx context.Context, repo *pg.Customers, in []model.CustomerCreate) error {
	for _, c := range in {
		if _, err := repo.Create(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

func price(cents int64) *int64 { return &cents }

// demoCatalog is a small shop with the launch disc first.
func demoCatalog(now time.Time) []model.DiscCreate {
	d := func(name, artist string, year int, style string, cents, stock int64, limit int) model.DiscCreate {
		return model.DiscCreate{Name: name, Artist: artist, ReleaseYear: year, Style: style, PriceCents: price(cents),
			Stock: stock, PerCustomerLimit: limit, StartsAt: now}
	}
	return []model.DiscCreate{
		d(launchName, launchArtist, 2022, "Indie", 4990, 500, 2),
		d("Enterprise Integration Patterns", "Hohpe", 2003, "Jazz", 3990, 120, 0),
		d("Kind of Blue", "Miles Davis", 1959, "Jazz", 5990, 40, 0),
		d("Abbey Road", "The Beatles", 1969, "Rock", 6990, 35, 0),
		d("Rumours", "Fleetwood Mac", 1977, "Rock", 5490, 25, 0),
		d("Blue Train", "John Coltrane", 1958, "Jazz", 4490, 18, 0),
		d("Homogenic", "Björk", 1997, "Electronic", 4790, 22, 0),
		d("Random Access Memories", "Daft Punk", 2013, "Electronic", 7990, 60, 0),
		d("Chega de Saudade", "João Gilberto", 1959, "Bossa Nova", 5290, 15, 0),
		d("Clube da Esquina", "Milton Nascimento", 1972, "MPB", 6290, 12, 0),
		d("In Rainbows", "Radiohead", 2007, "Indie", 5790, 30, 0),
		d("Is This It", "The Strokes", 2001, "Indie", 4590, 0, 0),
	}
}

// demoCustomers are a few buyers with valid, made-up CPFs.
func demoCustomers() []model.CustomerCreate {
	names := []string{"Ana Souza", "Bruno Lima", "Carla Dias", "Diego Alves", "Elisa Rocha", "Fábio Nunes",
		"Gabriela Reis", "Heitor Melo", "Isabela Costa", "João Pires"}
	out := make([]model.CustomerCreate, len(names))
	for i, n := range names {
		out[i] = model.CustomerCreate{
			Document:  model.CPFFromSeed(int64(100_000_001 + i)),
			Name:      n,
			Email:     fmt.Sprintf("customer%02d@example.com", i+1),
			Phone:     fmt.Sprintf("+55119%08d", 10_000_000+i),
			BirthDate: fmt.Sprintf("19%02d-0%d-1%d", 70+i*2, 1+i%9, i%9),
		}
	}
	return out
}

// generatedDiscs makes n varied discs, deterministic from their index, for list benchmarks.
func generatedDiscs(from, n int, now time.Time) []model.DiscCreate {
	words := []string{"Blue", "Night", "River", "Electric", "Silent", "Golden", "Paper", "Neon", "Velvet", "Echo",
		"Summer", "Glass", "Wild", "Lunar", "Static", "Crimson", "Hollow", "Atlas", "Signal", "Harbor"}
	artists := []string{"Hohpe", "Nina Simone", "Caetano Veloso", "Portishead", "Kraftwerk", "Gal Costa", "Sade",
		"Massive Attack", "Tom Jobim", "Pixies", "Bowie", "Elis Regina", "Air", "Beach House", "Stereolab"}
	styles := []string{"Rock", "Jazz", "Indie", "Electronic", "MPB", "Bossa Nova", "Soul", "Pop", "Hip Hop", "Classical"}
	out := make([]model.DiscCreate, n)
	for i := range out {
		r := rand.New(rand.NewPCG(uint64(from+i), 42))
		out[i] = model.DiscCreate{
			Name:        fmt.Sprintf("%s %s %d", words[r.IntN(len(words))], words[r.IntN(len(words))], from+i),
			Artist:      artists[r.IntN(len(artists))],
			ReleaseYear: 1960 + r.IntN(66),
			Style:       styles[r.IntN(len(styles))],
			PriceCents:  price(int64(1990 + r.IntN(8000))),
			Stock:       int64(r.IntN(200)),
			StartsAt:    now,
		}
	}
	return out
}

// Generated customers, for load tests that buy as many distinct customers (bench/attack.sh buys for
// customers 1..10000). Generated customer k has the CPF model.CPFFromSeed(seedCPFBase+k) and the email
// buyer-k@example.com: both distinct for every k up to maxSeedCustomers and apart from the demo customers'
// (CPFFromSeed(100_000_001...), customerNN@example.com) and the README's examples.
const (
	maxSeedCustomers = 1_000_000
	seedCPFBase      = 200_000_000
)

// generatedCustomer is generated customer k (1-based), valid as a sign-up is.
func generatedCustomer(k int) model.CustomerCreate {
	born := time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, k*7919%20_000)
	return model.CustomerCreate{
		Document:  model.CPFFromSeed(int64(seedCPFBase + k)),
		Name:      fmt.Sprintf("Buyer %d", k),
		Email:     fmt.Sprintf("buyer-%d@example.com", k),
		Phone:     fmt.Sprintf("+5511%09d", 900_000_000+k),
		BirthDate: born.Format(time.DateOnly),
	}
}

// The generated customers go to a temporary table with COPY and from there into customers in one statement,
// in k order (so that on a fresh shop customer k gets id k plus the demo customers before it). Those whose
// email or document is there already are left out rather than conflicting: a second run inserts nothing and
// takes no identity values, so the ids stay dense.
const (
	createSeedCustomers = `CREATE TEMPORARY TABLE seed_customers (
    k int PRIMARY KEY, document text, name text, email text, phone text, birth_date text) ON COMMIT DROP`
	insertSeedCustomers = `
INSERT INTO customers (document, name, email, phone, birth_date)
SELECT s.document, s.name, s.email, s.phone, s.birth_date::date
FROM seed_customers s
WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.email = s.email OR c.document = s.document)
ORDER BY s.k
ON CONFLICT DO NOTHING`
	customerIDRange = `SELECT coalesce(min(id), 0), coalesce(max(id), 0), count(*) FROM customers`
)

// seedCustomers makes sure the generated customers 1..n exist and says which customer ids the shop holds.
func seedCustomers(ctx context.Context, pool *pgxpool.Pool, n int, now time.Time, stdout io.Writer) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("seed.customers: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, createSeedCustomers); err != nil {
		return fmt.Errorf("seed.customers: %w", err)
	}
	rows := pgx.CopyFromSlice(n, func(i int) ([]any, error) {
		c := generatedCustomer(i + 1)
		if err := c.Validate(now); err != nil {
			return nil, fmt.Errorf("generated customer %d is not valid: %w", i+1, err)
		}
		return []any{i + 1, c.Document, c.Name, c.Email, c.Phone, c.BirthDate}, nil
	})
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"seed_customers"}, []string{"k", "document", "name", "email", "phone", "birth_date"}, rows); err != nil {
		return fmt.Errorf("seed.customers: copy: %w", err)
	}
	tag, err := tx.Exec(ctx, insertSeedCustomers)
	if err != nil {
		return fmt.Errorf("seed.customers: %w", err)
	}
	var lo, hi, count int64
	if err := tx.QueryRow(ctx, customerIDRange).Scan(&lo, &hi, &count); err != nil {
		return fmt.Errorf("seed.customers: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("seed.customers: %w", err)
	}
	added := tag.RowsAffected()
	fmt.Fprintf(stdout, "seed: generated customers 1..%d: %d added, %d there already\n", n, added, int64(n)-added)
	if hi-lo+1 == count {
		fmt.Fprintf(stdout, "seed: customers %d..%d exist\n", lo, hi)
	} else {
		fmt.Fprintf(stdout, "seed: %d customers exist between ids %d and %d (some ids were skipped)\n", count, lo, hi)
	}
	return nil
}
