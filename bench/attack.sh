#!/usr/bin/env bash
# attack.sh: load POST /v1/orders of any recordshop deployment with vegeta at a fixed rate (open model).
# Every request is a distinct buyer (customers CUSTOMER_FROM..CUSTOMER_TO in turn) with its own Idempotency-Key.
# Writes vegeta's text, JSON and HDR histogram reports (and the raw results) into OUT.
#
#   URL=http://127.0.0.1:8080 TOKEN=<storefront token> DISC=1 RATE=1000 DURATION=10s \
#   CUSTOMER_FROM=1 CUSTOMER_TO=20000 bench/attack.sh
#   bench/attack.sh --url http://127.0.0.1:8080 --token "$SF" --disc 1 --rate 1000 --duration 10s
#
# Parameters (flag or env): --url URL, --rate RATE (requests/s), --duration DURATION (vegeta duration, e.g. 10s),
# --disc DISC, --customer-from CUSTOMER_FROM, --customer-to CUSTOMER_TO, --token TOKEN, --quantity QUANTITY,
# --out OUT (default bench/results/attack-<UTC time>), --max-workers MAX_WORKERS.
#
# The customers must exist, or their orders are 404s: `make run` seeds 10. Seed the range first, e.g.
#   RS_PG_URL=<the Postgres URL make run printed> ./bin/recordshop seed --customers 10000
# Before attacking, the script looks up the first and last customer and the disc, and stops if one is missing.
set -euo pipefail

VEGETA_VERSION=v12.13.0
URL=${URL:-http://127.0.0.1:8080}
RATE=${RATE:-500}
DURATION=${DURATION:-10s}
DISC=${DISC:-1}
CUSTOMER_FROM=${CUSTOMER_FROM:-1}
CUSTOMER_TO=${CUSTOMER_TO:-10000}
TOKEN=${TOKEN:-}
QUANTITY=${QUANTITY:-1}
MAX_WORKERS=${MAX_WORKERS:-512}
OUT=${OUT:-}

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
	case "$1" in
	--url) URL=$2; shift 2 ;;
	--rate) RATE=$2; shift 2 ;;
	--duration) DURATION=$2; shift 2 ;;
	--disc) DISC=$2; shift 2 ;;
	--customer-from) CUSTOMER_FROM=$2; shift 2 ;;
	--customer-to) CUSTOMER_TO=$2; shift 2 ;;
	--token) TOKEN=$2; shift 2 ;;
	--quantity) QUANTITY=$2; shift 2 ;;
	--max-workers) MAX_WORKERS=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	-h | --help) usage 0 ;;
	*) echo "attack.sh: unknown argument $1" >&2; usage 2 ;;
	esac
done
if [ -z "$TOKEN" ]; then
	echo "attack.sh: TOKEN (a storefront token) is required" >&2
	exit 2
fi

# status prints the HTTP status of GET URL$1 with the token (000 when nothing answered).
status() {
	curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "Authorization: Bearer $TOKEN" "$URL$1" || true
}
# Check the range before the load: a missing customer would turn the run into a measurement of 404s.
for customer in "$CUSTOMER_FROM" "$CUSTOMER_TO"; do
	code=$(status "/v1/customers/$customer")
	case $code in
	200) ;;
	404)
		echo "attack.sh: customer $customer does not exist on $URL, so orders for customers" \
			"$CUSTOMER_FROM..$CUSTOMER_TO would mostly answer 404. Seed them first:" >&2
		echo "  RS_PG_URL=<the shop's Postgres URL> recordshop seed --customers $CUSTOMER_TO" >&2
		echo "or pick a range that exists with --customer-from/--customer-to." >&2
		exit 2
		;;
	401 | 403)
		echo "attack.sh: $URL refuses TOKEN: give a storefront (or admin) token of that shop" >&2
		exit 2
		;;
	000)
		echo "attack.sh: nothing answers at $URL" >&2
		exit 2
		;;
	*)
		echo "attack.sh: GET $URL/v1/customers/$customer answered $code" >&2
		exit 2
		;;
	esac
done
if [ "$(status "/v1/discs/$DISC")" != 200 ]; then
	echo "attack.sh: disc $DISC is not on sale at $URL (GET /v1/discs/$DISC did not answer 200)" >&2
	exit 2
fi

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
OUT=${OUT:-$here/results/attack-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"

# The pinned vegeta CLI: from PATH when it is that version, else installed with go install.
VEGETA=$(command -v vegeta || true)
if [ -z "$VEGETA" ] || ! "$VEGETA" -version 2>/dev/null | grep -q "${VEGETA_VERSION#v}"; then
	echo "attack.sh: installing vegeta $VEGETA_VERSION" >&2
	go install "github.com/tsenart/vegeta/v12@$VEGETA_VERSION"
	VEGETA="$(go env GOPATH | cut -d: -f1)/bin/vegeta"
fi

(cd "$root" && go build -o "$OUT/targets" ./bench/cmd/targets)
echo "attack.sh: $RATE/s for $DURATION on $URL, disc $DISC, customers $CUSTOMER_FROM..$CUSTOMER_TO -> $OUT" >&2
# vegeta stops reading when the duration is up; the generator then exits on the closed pipe, which is fine.
{ "$OUT/targets" -url "$URL" -disc "$DISC" -customer-from "$CUSTOMER_FROM" -customer-to "$CUSTOMER_TO" \
	-quantity "$QUANTITY" -rate "$RATE" -duration "$DURATION" -token "$TOKEN" || true; } |
	"$VEGETA" attack -lazy -format=json -rate="$RATE" -duration="$DURATION" -max-workers="$MAX_WORKERS" \
		-timeout=10s >"$OUT/results.bin"
rm -f "$OUT/targets"

"$VEGETA" report -type=text <"$OUT/results.bin" | tee "$OUT/report.txt"
"$VEGETA" report -type=json <"$OUT/results.bin" >"$OUT/report.json"
"$VEGETA" report -type='hdrplot' <"$OUT/results.bin" >"$OUT/report.hdr"
echo "attack.sh: reports in $OUT (report.txt, report.json, report.hdr, results.bin)" >&2
