package main

import (
	"context"
	"fmt"
	"io"
)

// runRegister is not built yet; its issue replaces this stub.
func runRegister(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "dedupegate: register is not implemented yet")
	return exitFailure
}

// runUnregister is not built yet; its issue replaces this stub.
func runUnregister(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "dedupegate: unregister is not implemented yet")
	return exitFailure
}

// runStatus is not built yet; its issue replaces this stub.
func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "dedupegate: status is not implemented yet")
	return exitFailure
}
