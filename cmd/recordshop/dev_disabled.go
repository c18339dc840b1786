//go:build nodev

package main

import (
	"context"
	"errors"
	"io"
)

// runDev stands in for `recordshop dev` in a build with -tags nodev, which is how deploy/Dockerfile builds the
// production image. That build links no dal/devstack, so nothing in the image can start local servers or run
// apt-get as root; dev.go is the real command.
func runDev(context.Context, config, io.Writer, io.Writer) error {
	return errors.New("dev is not in this build (built with -tags nodev, as the production image is); " +
		"run it from a build without the tag: make run, or go run ./cmd/recordshop dev")
}
