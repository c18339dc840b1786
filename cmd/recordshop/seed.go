package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/dal/pg"
)

// The launch disc of the demo: the one a launch day is about.
const (
	launchName   = "We are Reactive"
	launchArtist = "Hohpe"
)

// runSeed loads the demo catalog and customers into RS_PG_URL, once; --discs N adds N generated discs.
func runSeed(ctx context.Context, cfg config, stdout, _ io.Writer) error {
	if err := cfg.validate(true, false, false); err != nil {
		return err
	}
	if cfg.SeedDiscs < 0 || cfg.SeedDiscs > 1_000_000 {
		return errors.New("seed: --discs must be between 0 and 1000000")
	}
	pool, err := pg.Connect(ctx, cfg.PGURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := pg.Migrate(ctx, pool); err != nil {
		return err
	}
	return seed(ctx, pool, cfg.SeedDiscs, time.Now(), stdout)
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
