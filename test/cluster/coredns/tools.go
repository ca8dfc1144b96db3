//go:build tools

// Package tools records the command scripts/cluster-bins.sh builds (the cluster DNS), so `go mod tidy`
// keeps it.
package tools

import _ "github.com/coredns/coredns"
