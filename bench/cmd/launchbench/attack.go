package main

import (
	"bytes"
	"fmt"
	"math"
	"net"
	"net/http"
	"sort"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// sample is one answer.
type sample struct {
	at      time.Time // when the request was sent
	latency time.Duration
	code    uint16
	orderID string // for a 201
	err     bool   // transport error or an answer other than 2xx/409
}

// run is the outcome of one attack at one rate.
type run struct {
	name     string
	rate     int
	duration time.Duration
	start    time.Time
	end      time.Time
	samples  []sample
	metrics  vegeta.Metrics
	codes    map[uint16]int
	errors   int
	created  []string // order ids answered 201
}

func (r *run) p(q float64) time.Duration { return quantile(r.samples, q) }

func (r *run) achieved() float64 { return r.metrics.Rate }

// quantile is the q-quantile of the latencies (nearest rank).
func quantile(ss []sample, q float64) time.Duration {
	if len(ss) == 0 {
		return 0
	}
	ls := make([]time.Duration, len(ss))
	for i, s := range ss {
		ls[i] = s.latency
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i] < ls[j] })
	k := int(math.Ceil(q*float64(len(ls)))) - 1
	return ls[max(0, min(k, len(ls)-1))]
}

// orderTargeter makes POST /v1/orders targets: one buyer per request, customers from..to in turn (wrapping),
// each with its own Idempotency-Key. next is shared across attacks so customers keep advancing.
type orderTargeter struct {
	base   string
	token  string
	disc   int64
	from   int64
	to     int64
	prefix string
	next   atomic.Int64
}

func (o *orderTargeter) targeter() vegeta.Targeter {
	hdr := http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + o.token}}
	url := o.base + "/v1/orders"
	span := o.to - o.from + 1
	return func(t *vegeta.Target) error {
		i := o.next.Add(1) - 1
		t.Method, t.URL = "POST", url
		t.Body = fmt.Appendf(nil, `{"customer_id":%d,"disc_id":%d,"quantity":1}`, o.from+i%span, o.disc)
		h := hdr.Clone()
		h.Set("Idempotency-Key", fmt.Sprintf("%s-%d", o.prefix, i))
		t.Header = h
		return nil
	}
}

// newClient returns the HTTP client of an attack: keep-alive connections, as many as vegeta needs. The steps
// of one rate search share one, so each step starts on the connections the last one opened, as a storefront's
// steady traffic does; a launch's burst gets a fresh one, since its buyers all connect at once.
func newClient() *http.Client {
	dialer := &net.Dialer{KeepAlive: 30 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: dialer.DialContext,
		MaxIdleConnsPerHost: 10000}}
}

// attack runs tr at rate/s for d over client in this process (open model: vegeta sends on schedule whatever
// the answers) and collects every answer.
func attack(client *http.Client, name string, tr vegeta.Targeter, rate int, d time.Duration) *run {
	atk := vegeta.NewAttacker(vegeta.Client(client), vegeta.Workers(64), vegeta.MaxWorkers(2048), vegeta.MaxBody(4096))
	r := &run{name: name, rate: rate, duration: d, start: time.Now(), codes: map[uint16]int{}}
	r.samples = make([]sample, 0, int(float64(rate)*d.Seconds())+16)
	for res := range atk.Attack(tr, vegeta.Rate{Freq: rate, Per: time.Second}, d, name) {
		r.metrics.Add(res)
		s := sample{at: res.Timestamp, latency: res.Latency, code: res.Code}
		r.codes[res.Code]++
		switch {
		case res.Code == 201:
			s.orderID = orderID(res.Body)
			if s.orderID != "" {
				r.created = append(r.created, s.orderID)
			}
		case res.Code == 200 || res.Code == 409:
		default:
			s.err = true
			r.errors++
		}
		r.samples = append(r.samples, s)
	}
	r.metrics.Close()
	r.end = time.Now()
	return r
}

// orderID picks "id" out of an order answer without a full decode.
func orderID(body []byte) string {
	i := bytes.Index(body, []byte(`"id":"`))
	if i < 0 {
		return ""
	}
	rest := body[i+6:]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}

// second is one second of a run: answers sent in it, and their p50/p99.
type second struct {
	t        float64 // seconds since the first run of the scenario started
	n        int
	ok       int // 201 and 200
	conflict int // 409
	errors   int
	p50, p99 time.Duration
}

// perSecond buckets samples by the second they were sent in, relative to t0.
func perSecond(t0 time.Time, ss []sample, width time.Duration) []second {
	buckets := map[int][]sample{}
	for _, s := range ss {
		k := int(s.at.Sub(t0) / width)
		buckets[k] = append(buckets[k], s)
	}
	var out []second
	for k, b := range buckets {
		sec := second{t: float64(k), n: len(b), p50: quantile(b, 0.5), p99: quantile(b, 0.99)}
		for _, s := range b {
			switch {
			case s.err:
				sec.errors++
			case s.code == 409:
				sec.conflict++
			default:
				sec.ok++
			}
		}
		out = append(out, sec)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].t < out[j].t })
	return out
}
