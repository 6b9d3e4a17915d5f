//go:build tools

// Package tools pins the Temporal server and its SQL schema tool so scripts/build-temporal-server.sh
// can build both at the version in go.mod.
package tools

import (
	_ "go.temporal.io/server/cmd/server"
	_ "go.temporal.io/server/cmd/tools/sql"
)
