//go:build !linux

package pg

import "syscall"

// setUserTimeout does nothing where TCP_USER_TIMEOUT does not exist; keep-alive alone notices a dead path
// there (in about keepAliveIdle + keepAliveCount*keepAliveInterval, for idle connections only).
func setUserTimeout(string, string, syscall.RawConn) error { return nil }
