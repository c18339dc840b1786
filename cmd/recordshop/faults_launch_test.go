package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/learecordshop/recordshop/dal/testenv"
)

// retryBudget bounds how long one buyer keeps retrying one request: a real storefront gives up at some point,
// and a test must end. Every fault here heals well within it.
const retryBudget = 20 * time.Second

// launch is a load generator that behaves like a storefront on launch day: it sends orders at a fixed rate
// (open model: the schedule does not wait for answers) for one disc, from many customers, each request with
// its own Idempotency-Key. On a transport error or a 5xx it retries the same request with the same key, with
// backoff, until it gets a definitive answer, so every request ends known: confirmed (201, or 200 replaying an
// answer that was lost) or refused.
type launch struct {
	t         *testing.T
	base      string
	disc      int64
	customers []int64
	client    *http.Client
	started   time.Time

	answered  atomic.Int64 // requests with a definitive answer
	confirms  atomic.Int64 // of which 201 or 200 replays
	retries   atomic.Int64 // attempts after the first
	transport atomic.Int64 // attempts that failed in transport
	status5xx atomic.Int64 // attempts answered 5xx

	mu           sync.Mutex
	confirmed    map[string]bool // order ids a buyer was told about
	created      int             // 201
	replayed     int             // 200 + Idempotent-Replayed
	firstReplays int             // replays answering a first attempt: the API retried after the script ran
	problems     []string        // requests without a definitive answer, or with an answer a launch must not get
	done         chan struct{}
}

// startLaunch sends rate orders per second for d, then waits for the last answer in the background.
func startLaunch(t *testing.T, base string, disc int64, customers []int64, rate int, d time.Duration) *launch {
	t.Helper()
	l := &launch{t: t, base: base, disc: disc, customers: customers, confirmed: map[string]bool{}, done: make(chan struct{}),
		client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}}
	n := int(d.Seconds() * float64(rate))
	l.started = time.Now()
	go func() {
		defer close(l.done)
		var wg sync.WaitGroup
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		for i := range n {
			wg.Add(1)
			go func() { defer wg.Done(); l.order(i) }()
			<-tick.C
		}
		wg.Wait()
	}()
	t.Cleanup(func() {
		select {
		case <-l.done:
		case <-time.After(d + retryBudget + 10*time.Second):
			t.Errorf("the launch did not end")
		}
		l.client.CloseIdleConnections()
	})
	return l
}

// order places request i until it has a definitive answer or retryBudget runs out.
func (l *launch) order(i int) {
	key := fmt.Sprintf("launch-%06d", i)
	customer := l.customers[i%len(l.customers)]
	body := fmt.Sprintf(`{"customer_id":%d,"disc_id":%d,"quantity":1}`, customer, l.disc)
	giveUp := time.Now().Add(retryBudget)
	backoff := 50 * time.Millisecond
	for attempt := 0; ; attempt++ {
		status, replayed, retryAfter, raw, err := l.post(key, body)
		if err == nil && status < 500 {
			l.answer(i, attempt, status, replayed, raw)
			return
		}
		if err != nil {
			l.transport.Add(1)
		} else {
			l.status5xx.Add(1)
		}
		if time.Now().After(giveUp) {
			l.fail(fmt.Sprintf("request %d (key %s): no definitive answer after %v: %v %d %s", i, key, retryBudget, err, status, raw))
			return
		}
		l.retries.Add(1)
		wait := max(backoff, retryAfter)
		time.Sleep(wait) // the buyer's backoff, not the test waiting for something
		backoff = min(backoff*2, time.Second)
	}
}

func (l *launch) post(key, body string) (status int, replayed bool, retryAfter time.Duration, raw []byte, err error) {
	req, err := http.NewRequest(http.MethodPost, l.base+"/v1/orders", strings.NewReader(body))
	if err != nil {
		return 0, false, 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+faultStorefront)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := l.client.Do(req)
	if err != nil {
		return 0, false, 0, nil, err
	}
	defer resp.Body.Close()
	raw, err = io.ReadAll(resp.Body)
	if err != nil {
		return 0, false, 0, nil, err
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		retryAfter = time.Duration(s) * time.Second
	}
	return resp.StatusCode, resp.Header.Get("Idempotent-Replayed") == "true", retryAfter, raw, nil
}

// answer records a definitive answer. With plenty of stock and no limit, every request must be confirmed.
func (l *launch) answer(i, attempt, status int, replayed bool, raw []byte) {
	defer l.answered.Add(1)
	var o struct {
		ID string `json:"id"`
	}
	ok := (status == http.StatusCreated && !replayed) || (status == http.StatusOK && replayed)
	if !ok || json.Unmarshal(raw, &o) != nil || o.ID == "" {
		l.fail(fmt.Sprintf("request %d: answer %d (replayed %v) %s; want 201, or 200 replaying a lost answer", i, status, replayed, raw))
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if replayed && attempt == 0 {
		// Each request has its own key, so only a retry inside the API can make a first attempt a replay:
		// go-redis retries a command whose answer a dying connection lost, and the reservation script ran
		// already. With a key the buyer still gets the one order (TestFaultRedisReplyLost shows the case
		// without one), so this is counted, not failed.
		l.firstReplays++
	}
	if l.confirmed[o.ID] {
		l.problems = append(l.problems, fmt.Sprintf("request %d: order %s was already confirmed to another request", i, o.ID))
	}
	l.confirmed[o.ID] = true
	if replayed {
		l.replayed++
	} else {
		l.created++
	}
	l.confirms.Add(1)
}

func (l *launch) fail(msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.problems = append(l.problems, msg)
}

// waitAnswered waits until n requests have a definitive answer: the launch is under way.
func (l *launch) waitAnswered(n int64) {
	l.t.Helper()
	testenv.Eventually(l.t, 30*time.Second, fmt.Sprintf("fewer than %d requests were answered", n), func() (bool, string) {
		got := l.answered.Load()
		return got >= n, fmt.Sprint(got, " answered")
	})
}

// wait waits for the last answer, fails the test for every request that did not end confirmed, and logs the
// figures.
func (l *launch) wait() {
	l.t.Helper()
	select {
	case <-l.done:
	case <-time.After(2 * time.Minute):
		l.t.Fatal("the launch did not end in 2 minutes")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, p := range l.problems {
		if i == 10 {
			l.t.Errorf("... and %d more", len(l.problems)-10)
			break
		}
		l.t.Error(p)
	}
	l.t.Logf("launch: %d requests in %v: %d created (201), %d replayed (200; %d of them on a first attempt); %d retries (%d transport errors, %d 5xx)",
		l.answered.Load(), time.Since(l.started).Round(time.Millisecond), l.created, l.replayed, l.firstReplays,
		l.retries.Load(), l.transport.Load(), l.status5xx.Load())
}

func (l *launch) confirmedIDs() map[string]bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]bool, len(l.confirmed))
	for id := range l.confirmed {
		out[id] = true
	}
	return out
}
