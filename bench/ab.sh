#!/usr/bin/env bash
# ab.sh compares two recordshop binaries on one path, pair by pair, against the same Postgres and Redis.
#
#   [OLD_ENV='K=V ...'] [NEW_ENV='K=V ...'] bench/ab.sh OLD_BINARY NEW_BINARY [orders|soldout|healthz] [ROUNDS] [SECONDS]
#
# One `recordshop dev --no-writer` (from NEW_BINARY) provides Postgres, Redis, tokens and, for orders, a disc of
# 10,000,000 units. Each round then starts `serve` from OLD, loads it with wrk, stops it, and does the same
# with NEW, so drift of a shared, noisy machine hits both alike: compare the ratios of each pair, not the
# absolute figures. orders: POST /v1/orders (quantity 1, one customer) with the writer in the serve process;
# soldout: the same on a disc whose one unit was bought before the load (every answer 409); healthz: GET
# /healthz, the HTTP edge alone. OLD_ENV and NEW_ENV add environment to each side's serve (e.g. the same
# binary twice, NEW_ENV=GOMAXPROCS=1). wrk runs with one thread and 32 connections on core 1
# (taskset), the server and the stores where the kernel puts them. Everything listens on 127.0.0.1 and stops
# by itself.
set -euo pipefail
old=$(realpath "$1"); new=$(realpath "$2"); path=${3:-orders}; rounds=${4:-5}; secs=${5:-10}
command -v wrk >/dev/null || { echo "ab.sh needs wrk (apt-get install wrk)" >&2; exit 2; }
dir=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
port_dev=18180; port=18181
"$new" dev -http-addr 127.0.0.1:$port_dev -no-writer >"$dir/dev.log" 2>&1 &
for _ in $(seq 1 120); do curl -sf -o /dev/null http://127.0.0.1:$port_dev/healthz && break; sleep 0.5; done
pg=$(grep -o 'postgres://[^ ]*sslmode=disable' "$dir/dev.log" | head -1)
rd=$(grep -o 'redis://[0-9.:]*/0' "$dir/dev.log" | head -1)
ad=$(grep -o 'adm_[0-9a-f]*' "$dir/dev.log" | head -1)
sf=$(grep -o 'sf_[0-9a-f]*' "$dir/dev.log" | head -1)
url=http://127.0.0.1:$port/healthz; script=()
if [ "$path" = orders ] || [ "$path" = soldout ]; then
	stock=10000000; [ "$path" = soldout ] && stock=1
	disc=$(curl -sf -X POST http://127.0.0.1:$port_dev/v1/discs -H "Authorization: Bearer $ad" -H 'Content-Type: application/json' \
		-d '{"name":"AB","artist":"Bench","style":"Rock","release_year":2000,"price_cents":100,"stock":'$stock'}' |
		sed -E 's/^\{"id":([0-9]+).*/\1/')
	if [ "$path" = soldout ]; then
		curl -sf -o /dev/null -X POST http://127.0.0.1:$port_dev/v1/orders -H "Authorization: Bearer $sf" \
			-H 'Content-Type: application/json' -d '{"customer_id":1,"disc_id":'$disc',"quantity":1}'
	fi
	cat >"$dir/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $sf"
wrk.body = '{"customer_id":1,"disc_id":$disc,"quantity":1}'
LUA
	url=http://127.0.0.1:$port/v1/orders; script=(-s "$dir/post.lua")
fi
writer=(--no-writer); [ "$path" != healthz ] && writer=()
echo "path=$path rounds=$rounds seconds=$secs wrk: -t1 -c32 on core 1; old env: ${OLD_ENV:-none}; new env: ${NEW_ENV:-none}"
for round in $(seq 1 "$rounds"); do
	for which in old new; do
		bin=$old; extra=${OLD_ENV:-}; [ "$which" = new ] && bin=$new && extra=${NEW_ENV:-}
		# shellcheck disable=SC2086 # extra is a list of K=V words
		env $extra "$bin" serve --no-migrate "${writer[@]}" --http-addr 127.0.0.1:$port --pg-url "$pg" --redis-url "$rd" \
			--admin-tokens "$ad" --storefront-tokens "$sf" >"$dir/serve.log" 2>&1 &
		pid=$!
		for _ in $(seq 1 100); do curl -sf -o /dev/null http://127.0.0.1:$port/readyz && break; sleep 0.2; done
		out=$(taskset -c 1 wrk -t1 -c32 -d"${secs}s" --latency "${script[@]}" "$url")
		rps=$(awk '/Requests\/sec/{print $2}' <<<"$out"); p99=$(awk '$1=="99%"{print $2}' <<<"$out")
		non=$(awk '/Non-2xx/{print $NF}' <<<"$out")
		echo "round=$round bin=$which rps=$rps p99=$p99 non2xx=${non:-0}"
		kill "$pid"; wait "$pid" 2>/dev/null || true
	done
done
