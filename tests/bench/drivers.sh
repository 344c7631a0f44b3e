#!/bin/sh
# The store's two SQLite drivers side by side in one run (docs/architectures.md):
# BenchmarkWrite/realistic on the build machine with each, and under qemu-user
# for ARMv7 (each) and little-endian MIPS (ncruces, its only driver), then the
# API's queries on a million events with each. Compare events/cpu-s within
# the run: emulation ranks the drivers, it is not a router's speed.
set -e
GO=${GO:-go}
N=${N:-20000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
B='Write/realistic$'
echo "== $(go env GOARCH) modernc.org/sqlite"
$GO test -run '^$' -bench "$B" -benchtime "${N}x" ./internal/store/ | grep Benchmark
echo "== $(go env GOARCH) github.com/ncruces/go-sqlite3"
$GO test -tags sqlite_ncruces -run '^$' -bench "$B" -benchtime "${N}x" ./internal/store/ | grep Benchmark
GOARCH=arm GOARM=7 $GO test -c -o "$tmp/arm-modernc" ./internal/store/
GOARCH=arm GOARM=7 $GO test -tags sqlite_ncruces -c -o "$tmp/arm-ncruces" ./internal/store/
GOARCH=mipsle GOMIPS=softfloat $GO test -c -o "$tmp/mipsle" ./internal/store/
cd "$tmp"
echo "== qemu-arm modernc.org/sqlite"
qemu-arm ./arm-modernc -test.run '^$' -test.bench "$B" -test.benchtime "${N}x" | grep Benchmark
echo "== qemu-arm github.com/ncruces/go-sqlite3"
qemu-arm ./arm-ncruces -test.run '^$' -test.bench "$B" -test.benchtime "${N}x" | grep Benchmark
echo "== qemu-mipsel github.com/ncruces/go-sqlite3"
qemu-mipsel ./mipsle -test.run '^$' -test.bench "$B" -test.benchtime "${N}x" | grep Benchmark
cd - >/dev/null
echo "== API on 1M events, modernc.org/sqlite"
$GO test -run '^$' -bench Queries1M -benchtime 5x ./webapi/ | grep Benchmark
echo "== API on 1M events, github.com/ncruces/go-sqlite3"
$GO test -tags sqlite_ncruces -run '^$' -bench Queries1M -benchtime 5x ./webapi/ | grep Benchmark
# The statistics on a million events under qemu-mipsel, with amd64 as the
# yardstick on the same store in the same run (compare the ratios). The
# store is made once, natively (an SQLite file is the same everywhere);
# under emulation the API's first count of it takes about 5 minutes.
GOARCH=mipsle GOMIPS=softfloat $GO test -c -o "$tmp/webapi-mipsle" ./webapi/
echo "== API statistics on 1M events, amd64 (yardstick)"
MINIPOT_BENCH_STORE="$tmp/1m.db" $GO test -run '^$' -bench 'Queries1M/stats' -benchtime 3x ./webapi/ | grep Benchmark
echo "== API statistics on 1M events, qemu-mipsel github.com/ncruces/go-sqlite3"
(cd "$tmp" && MINIPOT_BENCH_STORE="$tmp/1m.db" qemu-mipsel ./webapi-mipsle -test.run '^$' -test.bench 'Queries1M/stats' -test.benchtime 3x -test.v | grep -E 'Benchmark.*ns/op|first count')
