// Command targets writes vegeta JSON targets (one per line) for POST /v1/orders: one buyer per line, customers
// CUSTOMER_FROM..CUSTOMER_TO in turn (wrapping around when more lines are asked than customers), each with its
// own Idempotency-Key. bench/attack.sh pipes it into `vegeta attack -lazy -format=json`.
//
// It owns only those lines: it must not talk to the shop or its stores, so it can feed any deployment.
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

type target struct {
	Method string              `json:"method"`
	URL    string              `json:"url"`
	Body   string              `json:"body"`
	Header map[string][]string `json:"header"`
}

func main() {
	url := flag.String("url", "http://127.0.0.1:8080", "base URL of the deployment")
	disc := flag.Int64("disc", 1, "disc id")
	from := flag.Int64("customer-from", 1, "first customer id")
	to := flag.Int64("customer-to", 1000, "last customer id")
	qty := flag.Int("quantity", 1, "units per order")
	count := flag.Int64("count", 0, "lines to write; 0 = rate x duration (+5%) when both are given, else one per customer")
	rate := flag.Int64("rate", 0, "requests per second the attack will ask for")
	dur := flag.Duration("duration", 0, "how long the attack will run")
	token := flag.String("token", "", "storefront bearer token")
	prefix := flag.String("key-prefix", "", "Idempotency-Key prefix; default is unique per run")
	flag.Parse()
	if *to < *from || *from < 1 {
		fmt.Fprintln(os.Stderr, "targets: need 1 <= customer-from <= customer-to")
		os.Exit(2)
	}
	if *prefix == "" {
		*prefix = fmt.Sprintf("bench-%d", time.Now().UnixNano())
	}
	n := *count
	switch {
	case n > 0:
	case *rate > 0 && *dur > 0:
		n = int64(float64(*rate)*dur.Seconds()*1.05) + *rate
	default:
		n = *to - *from + 1
	}
	header := map[string][]string{"Content-Type": {"application/json"}}
	if *token != "" {
		header["Authorization"] = []string{"Bearer " + *token}
	}
	w := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(w)
	base := strings.TrimRight(*url, "/") + "/v1/orders"
	span := *to - *from + 1
	for i := int64(0); i < n; i++ {
		c := *from + i%span
		body := fmt.Sprintf(`{"customer_id":%d,"disc_id":%d,"quantity":%d}`, c, *disc, *qty)
		h := make(map[string][]string, len(header)+1)
		for k, v := range header {
			h[k] = v
		}
		h["Idempotency-Key"] = []string{fmt.Sprintf("%s-%d", *prefix, i)}
		if err := enc.Encode(target{Method: "POST", URL: base, Body: base64.StdEncoding.EncodeToString([]byte(body)), Header: h}); err != nil {
			os.Exit(1) // a closed pipe: vegeta has what it needs
		}
	}
	if err := w.Flush(); err != nil {
		os.Exit(1)
	}
}
