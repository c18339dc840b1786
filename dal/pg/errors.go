package pg

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/learecordshop/recordshop/biz/model"
)

// translate turns driver errors into the domain errors of biz/model, once, at the edge of dal.
func translate(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", op, model.ErrNotFound)
	}
	if unreachable(err) {
		return fmt.Errorf("%s: %w: %w", op, model.ErrUnavailable, err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505": // unique_violation
			return fmt.Errorf("%s: %w", op, &model.ConflictError{Constraint: pgErr.ConstraintName})
		case "23514": // check_violation
			return fmt.Errorf("%s: %w: %s", op, model.ErrConstraint, pgErr.ConstraintName)
		case "57014": // query_canceled: StatementTimeout fired; Postgres is too busy now, not refusing the request
			return fmt.Errorf("%s: %w: %w", op, model.ErrUnavailable, err)
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// IsDataError reports whether err is Postgres refusing the data itself (a data exception or an integrity
// violation: SQLSTATE classes 22 and 23) rather than failing to run it. Retrying such a write cannot succeed.
func IsDataError(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "23")
	}
	var conflict *model.ConflictError
	return errors.As(err, &conflict) || errors.Is(err, model.ErrConstraint)
}

// unreachable reports whether err says Postgres could not be reached or went away mid-request, as opposed to
// refusing the request.
func unreachable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// 08: connection exception; 57P01-03: shutting down or starting up.
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connErr) || errors.As(err, &netErr) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || pgconn.SafeToRetry(err)
}
