//go:build tools

// Package tools records the command scripts/cluster-bins.sh builds (the default StorageClass's provisioner), so `go mod tidy`
// keeps it.
package tools

import _ "github.com/rancher/local-path-provisioner"
