//go:build tools

// Package tools records the command scripts/cluster-bins.sh builds, so `go mod tidy` keeps it.
package tools

import _ "go.etcd.io/etcd/server/v3"
