//go:build tools

// Package tools pins the validator's module for `go build` (deploy/local/go-tools.sh).
package tools

import _ "github.com/italia/publiccode-parser-go/v5/publiccode-parser"
