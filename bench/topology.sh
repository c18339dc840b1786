#!/usr/bin/env bash
# topology.sh measures the order path on each Redis topology, round by round, as ratios to one Redis server.
#
#   bench/topology.sh BINARY [ROUNDS] [SECONDS]
#
# Two `recordshop dev --no-writer` stacks provide the stores: one with a single Redis server (AOF everysec),
# one with --redis-cluster (3 primaries and 3 replicas, AOF everysec). Each round then runs, one after the
# other, against a fresh disc of 10,000,000 units:
#   single     serve (writer in-process) on the single server
#   cluster    serve (writer in-process) on the cluster, RS_REDIS_WAIT_REPLICAS=0
#   cluster+w1 the same with RS_REDIS_WAIT_REPLICAS=1: each 201 waits for its replica
#   scaled     two `serve --no-writer` and two `recordshop writer` on the cluster, wait 1, wrk on both APIs
# POST /v1/orders, quantity 1, one customer, closed loop: wrk -t1 -c32 on core 1 (two wrk -c16, both on core
# 1, for scaled). Every process shares the machine's two cores, so a cluster cannot be faster here; the ratios
# say what each topology costs on the same hardware. Everything listens on 127.0.0.1 and stops by itself.
set -euo pipefail
bin=$(realpath "$1"); rounds=${2:-3}; secs=${3:-10}
command -v wrk >/dev/null || { echo "topology.sh needs wrk (apt-get install wrk)" >&2; exit 2; }
dir=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
wait_ok() { for _ in $(seq 1 150); do curl -sf -o /dev/null "$1" && return 0; sleep 0.2; done; echo "not up: $1" >&2; return 1; }

"$bin" dev -http-addr 127.0.0.1:18280 -no-writer >"$dir/single.log" 2>&1 &
"$bin" dev -http-addr 127.0.0.1:18281 -no-writer -redis-cluster >"$dir/cluster.log" 2>&1 &
wait_ok http://127.0.0.1:18280/readyz; wait_ok http://127.0.0.1:18281/readyz
field() { grep -o "$2" "$dir/$1.log" | head -1; }
pg_single=$(field single 'postgres://[^ ]*sslmode=disable'); redis_single=$(field single 'redis://[0-9.:]*/0')
pg_cluster=$(field cluster 'postgres://[^ ]*sslmode=disable')
nodes=$(grep -o 'cluster 127[0-9.:,]*' "$dir/cluster.log" | head -1 | cut -d' ' -f2)
ad=adm_topology_bench_0001; sf=sf_topology_bench_00001
# The dev stacks made their own tokens; the bench's serve processes take these instead.
export RS_ADMIN_TOKENS=$ad RS_STOREFRONT_TOKENS=$sf

new_disc() { # $1: a serve base URL; prints the id of a new disc of 10,000,000 units
	curl -sf -X POST "$1/v1/discs" -H "Authorization: Bearer $ad" -H 'Content-Type: application/json' \
		-d '{"name":"Topology","artist":"Bench","style":"Rock","release_year":2000,"price_cents":100,"stock":10000000}' |
		sed -E 's/^\{"id":([0-9]+).*/\1/'
}
post_script() { # $1: disc id
	cat >"$dir/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $sf"
wrk.body = '{"customer_id":1,"disc_id":$1,"quantity":1}'
LUA
}
measure() { # $1: config name; $2..: base URLs to load (one wrk each, 32 connections shared)
	local name=$1; shift
	local conns=$((32 / $#)) outs=() pids=() i=0
	for base in "$@"; do
		taskset -c 1 wrk -t1 -c"$conns" -d"${secs}s" --latency -s "$dir/post.lua" "$base/v1/orders" >"$dir/wrk.$i" &
		pids+=($!); i=$((i + 1))
	done
	wait "${pids[@]}"
	local rps=0 p99="" non=0
	for f in "$dir"/wrk.*; do
		rps=$(awk -v a="$rps" '/Requests\/sec/{printf "%.0f", a + $2}' "$f")
		p99+="$(awk '$1=="99%"{print $2}' "$f") "
		non=$((non + $(awk '/Non-2xx/{print $NF}' "$f" | tr -d ' ' || true) + 0))
	done
	rm -f "$dir"/wrk.*
	echo "round=$round config=$name rps=$rps p99=${p99% } non2xx=$non"
}
start() { # $1: log name; rest: recordshop arguments; prints nothing, records the pid
	"$bin" "${@:2}" >"$dir/$1.log" 2>&1 &
	procs+=($!)
}
stop_all() { kill "${procs[@]}" 2>/dev/null || true; wait "${procs[@]}" 2>/dev/null || true; procs=(); }

echo "rounds=$rounds seconds=$secs wrk: -t1 -c32 on core 1; cluster: 3 primaries + 3 replicas on this machine"
for round in $(seq 1 "$rounds"); do
	procs=()
	start serve serve --no-migrate --http-addr 127.0.0.1:18282 --pg-url "$pg_single" --redis-url "$redis_single"
	wait_ok http://127.0.0.1:18282/readyz; post_script "$(new_disc http://127.0.0.1:18282)"
	measure single http://127.0.0.1:18282; stop_all

	for wait in 0 1; do
		name=cluster; [ "$wait" = 1 ] && name=cluster+w1
		start serve serve --no-migrate --http-addr 127.0.0.1:18282 --pg-url "$pg_cluster" --redis-url "" \
			--redis-cluster-addrs "$nodes" --redis-wait-replicas "$wait"
		wait_ok http://127.0.0.1:18282/readyz; post_script "$(new_disc http://127.0.0.1:18282)"
		measure "$name" http://127.0.0.1:18282; stop_all
	done

	cluster=(--pg-url "$pg_cluster" --redis-url "" --redis-cluster-addrs "$nodes" --redis-wait-replicas 1)
	start api1 serve --no-migrate --no-writer --http-addr 127.0.0.1:18283 "${cluster[@]}"
	start api2 serve --no-migrate --no-writer --http-addr 127.0.0.1:18284 "${cluster[@]}"
	start writer1 writer --no-migrate --metrics-addr 127.0.0.1:18285 "${cluster[@]}"
	start writer2 writer --no-migrate --metrics-addr 127.0.0.1:18286 "${cluster[@]}"
	for u in 18283/readyz 18284/readyz 18285/healthz 18286/healthz; do wait_ok "http://127.0.0.1:$u"; done
	post_script "$(new_disc http://127.0.0.1:18283)"
	measure scaled http://127.0.0.1:18283 http://127.0.0.1:18284; stop_all
done
