//go:build tools

// Package tools records the command scripts/cluster-bins.sh builds (NetworkPolicy enforcement), so `go mod tidy`
// keeps it.
package tools

import _ "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"
