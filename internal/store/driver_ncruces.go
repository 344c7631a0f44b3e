//go:build mips || mipsle || sqlite_ncruces

package store

import _ "github.com/ncruces/go-sqlite3/driver" // registers driver "sqlite3"

// driverName is the database/sql driver of this build:
// github.com/ncruces/go-sqlite3 (SQLite translated to Go by wasm2go), used
// where modernc.org/sqlite has no port (MIPS), and with the sqlite_ncruces
// build tag anywhere, so that it is tested and measured on every machine.
const driverName = "sqlite3"

// Driver names the SQLite driver compiled in, for logs and benchmarks.
const Driver = "github.com/ncruces/go-sqlite3"
