//go:build !mips && !mipsle && !sqlite_ncruces

package store

import _ "modernc.org/sqlite" // registers driver "sqlite"

// driverName is the database/sql driver of this build: modernc.org/sqlite
// (SQLite translated to Go by ccgo) wherever it has a port. See
// docs/architectures.md for why the store does not use the other driver
// everywhere: on the same runs it wrote faster and made a smaller binary.
const driverName = "sqlite"

// Driver names the SQLite driver compiled in, for logs and benchmarks.
const Driver = "modernc.org/sqlite"
