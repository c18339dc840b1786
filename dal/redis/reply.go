package redis

import (
	"errors"
	"fmt"
	"strconv"

	goredis "github.com/redis/go-redis/v9"

	"github.com/learecordshop/recordshop/biz/model"
)

// The error replies of the server that callers act on. Each is recognised once, in translate, where the reply
// is read; callers test for them with errors.Is and never look at the text of a reply.
var (
	// ErrNoGroup: the stream or its consumer group does not exist (NOGROUP), as after Redis lost its data.
	ErrNoGroup = errors.New("redis: no such stream or consumer group")
	// ErrGroupExists: the consumer group is there already (BUSYGROUP).
	ErrGroupExists = errors.New("redis: consumer group exists already")
	// ErrIDTooSmall: XSETID was given an id below the stream's last one.
	ErrIDTooSmall = errors.New("redis: stream id below the stream's last one")
)

// ErrBadReply is a reply whose shape is not the one the command or script promises (an element missing, or of
// another type). Reading it is an error for the caller to handle, never a panic: many replies are read by
// background goroutines that no middleware recovers.
var ErrBadReply = errors.New("redis: reply of an unexpected shape")

// translate turns the error replies listed above into their sentinels, keeping the reply in the chain.
func translate(err error) error {
	switch {
	case err == nil:
		return nil
	case goredis.HasErrorPrefix(err, "NOGROUP"):
		return fmt.Errorf("%w: %w", ErrNoGroup, err)
	case goredis.HasErrorPrefix(err, "BUSYGROUP"):
		return fmt.Errorf("%w: %w", ErrGroupExists, err)
	case goredis.HasErrorPrefix(err, "The ID specified in XSETID is smaller"):
		return fmt.Errorf("%w: %w", ErrIDTooSmall, err)
	}
	return err
}

// wrap names the operation, translates the error replies above and marks transport failures (as opposed to
// replies of the server) as model.ErrUnavailable.
func wrap(op string, err error) error {
	err = translate(err)
	if replied(err) {
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s: %w: %w", op, model.ErrUnavailable, err)
}

// replied reports whether err is an answer of the server (other than "still loading") rather than a failure
// to get one.
func replied(err error) bool {
	var reply goredis.Error
	return errors.As(err, &reply) && !goredis.IsLoadingError(err)
}

// reply reads an array reply element by element, checking each one's type. The first mismatch is kept (shared
// with the nested arrays read from it) and every later read gives a zero value, so a reader reads on and checks
// err once at the end.
type reply struct {
	path string // where this array is in the whole reply, for the error
	vals []any
	err  *error
}

// newReply starts reading v, the whole reply of op, which must be an array.
func newReply(op string, v any) reply {
	r := reply{path: op, err: new(error)}
	vals, ok := v.([]any)
	if !ok {
		*r.err = fmt.Errorf("%s: want an array, got %T: %w", op, v, ErrBadReply)
	}
	r.vals = vals
	return r
}

// Err is the first mismatch, wrapping ErrBadReply; nil when every read found what it expected.
func (r reply) Err() error { return *r.err }

// len is the number of elements.
func (r reply) len() int { return len(r.vals) }

func (r reply) fail(i int, want string) {
	if *r.err != nil {
		return
	}
	if i >= len(r.vals) {
		*r.err = fmt.Errorf("%s: element %d: want %s, the reply has %d elements: %w", r.path, i, want, len(r.vals), ErrBadReply)
		return
	}
	*r.err = fmt.Errorf("%s: element %d: want %s, got %T: %w", r.path, i, want, r.vals[i], ErrBadReply)
}

func (r reply) at(i int) any {
	if i < 0 || i >= len(r.vals) {
		return nil
	}
	return r.vals[i]
}

// int reads an integer reply element.
func (r reply) int(i int) int64 {
	n, ok := r.at(i).(int64)
	if !ok {
		r.fail(i, "an integer")
	}
	return n
}

// str reads a string reply element.
func (r reply) str(i int) string {
	s, ok := r.at(i).(string)
	if !ok {
		r.fail(i, "a string")
	}
	return s
}

// optStr reads a string element that may be nil (a Lua false, a missing hash field); ok is false for nil.
func (r reply) optStr(i int) (s string, ok bool) {
	if i < len(r.vals) && r.vals[i] == nil {
		return "", false
	}
	return r.str(i), true
}

// decimal reads a string element that holds an integer, as hash fields do.
func (r reply) decimal(i int) int64 {
	s := r.str(i)
	if *r.err != nil {
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		*r.err = fmt.Errorf("%s: element %d: want an integer, got %q: %w", r.path, i, s, ErrBadReply)
	}
	return n
}

// array reads a nested array element.
func (r reply) array(i int) reply {
	vals, ok := r.at(i).([]any)
	if !ok {
		r.fail(i, "an array")
	}
	return reply{path: fmt.Sprintf("%s[%d]", r.path, i), vals: vals, err: r.err}
}
