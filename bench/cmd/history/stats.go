package main

import (
	"context"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// stmt is one normalised statement from pg_stat_statements.
type stmt struct {
	query   string
	calls   int64
	totalMS float64
	rows    int64
}

// statsReset forgets what pg_stat_statements counted so far, so the next read is one operation's.
func (s *stack) statsReset(ctx context.Context) error {
	_, err := s.stats.Exec(ctx, `SELECT pg_stat_statements_reset()`)
	return err
}

// topStatements returns the three statements of database db that took the most execution time since the
// last reset, the total execution time of all of them (ms) and their calls. The harness's own reads are left
// out.
func (s *stack) topStatements(ctx context.Context, db string) ([]stmt, float64, int64, error) {
	rows, err := s.stats.Query(ctx, `
SELECT query, calls, total_exec_time, rows FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = $1) AND query NOT LIKE '%pg_stat_statements%'
ORDER BY total_exec_time DESC`, db)
	if err != nil {
		return nil, 0, 0, err
	}
	defer rows.Close()
	var top []stmt
	var total float64
	var calls int64
	for rows.Next() {
		var st stmt
		if err := rows.Scan(&st.query, &st.calls, &st.totalMS, &st.rows); err != nil {
			return nil, 0, 0, err
		}
		total += st.totalMS
		calls += st.calls
		if len(top) < 3 {
			top = append(top, st)
		}
	}
	return top, total, calls, rows.Err()
}

// statementCalls returns the calls of database db's statements whose text holds substr since the last reset,
// and their execution time (ms).
func (s *stack) statementCalls(ctx context.Context, db, substr string) (int64, float64, error) {
	var calls int64
	var ms float64
	err := s.stats.QueryRow(ctx, `
SELECT COALESCE(sum(calls), 0)::bigint, COALESCE(sum(total_exec_time), 0) FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = $1) AND strpos(query, $2) > 0`, db, substr).Scan(&calls, &ms)
	return calls, ms, err
}

// explainNext turns auto_explain on for every statement (with ANALYZE and BUFFERS), runs do, turns it off
// and returns the plan of the order list it logged (the server log is where auto_explain writes).
func (s *stack) explainNext(ctx context.Context, do func() error) (string, error) {
	set := func(on bool) error {
		q := `ALTER SYSTEM SET auto_explain.log_min_duration = 0; ALTER SYSTEM SET auto_explain.log_analyze = on;
              ALTER SYSTEM SET auto_explain.log_buffers = on`
		if !on {
			q = `ALTER SYSTEM RESET auto_explain.log_min_duration; ALTER SYSTEM RESET auto_explain.log_analyze;
                 ALTER SYSTEM RESET auto_explain.log_buffers`
		}
		for _, part := range strings.Split(q, ";") {
			if _, err := s.pool.Exec(ctx, part); err != nil {
				return err
			}
		}
		// Every backend rereads the configuration before its next statement; give the signal time to land.
		_, err := s.pool.Exec(ctx, `SELECT pg_reload_conf()`)
		time.Sleep(300 * time.Millisecond)
		return err
	}
	offset := fileSize(s.pgLog)
	if err := set(true); err != nil {
		return "", err
	}
	runErr := do()
	if err := set(false); err != nil {
		return "", err
	}
	if runErr != nil {
		return "", runErr
	}
	f, err := os.Open(s.pgLog)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return "", err
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return "", err
	}
	// A logged plan is a "duration: ... plan:" line, then lines that each start with a tab.
	lines := strings.Split(string(b), "\n")
	for i := 0; i < len(lines); i++ {
		if !strings.Contains(lines[i], "plan:") {
			continue
		}
		var block []string
		for j := i + 1; j < len(lines) && strings.HasPrefix(lines[j], "\t"); j++ {
			block = append(block, strings.TrimPrefix(lines[j], "\t"))
		}
		text := strings.Join(block, "\n")
		if strings.Contains(text, "FROM orders") && strings.Contains(text, "ORDER BY reserved_at DESC") {
			return lines[i][strings.Index(lines[i], "duration:"):] + "\n" + text, nil
		}
	}
	return "", errors.New("no plan of the order list in the server log " + s.pgLog)
}

// planSummary is the plan without its query text, for the report: the text runs from "Query Text:" to the
// first plan node, the first line that carries a cost.
func planSummary(plan string) string {
	var out []string
	inQuery := false
	for _, l := range strings.Split(plan, "\n") {
		switch {
		case strings.HasPrefix(l, "Query Text:"):
			inQuery = true
			continue
		case inQuery && strings.Contains(l, "(cost="):
			inQuery = false
		case inQuery:
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

// timedOutSince returns the statements the server log says were cancelled on statement_timeout after offset:
// an "ERROR:  canceling statement due to statement timeout" line, then the "STATEMENT:" line of the same
// process, whose text may go on in lines that start with a tab.
func (s *stack) timedOutSince(offset int64) []string {
	f, err := os.Open(s.pgLog)
	if err != nil {
		return nil
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil
	}
	lines := strings.Split(string(b), "\n")
	var out []string
	for i, l := range lines {
		if !strings.Contains(l, "canceling statement due to statement timeout") {
			continue
		}
		end := strings.Index(l, "] ")
		start := strings.LastIndex(l[:max(end, 0)], "[")
		if end < 0 || start < 0 {
			continue
		}
		pid := l[start : end+1] // "[1234]" of the log line prefix '%m [%p] '
		for j := i + 1; j < len(lines) && j < i+50; j++ {
			k := strings.Index(lines[j], "STATEMENT:")
			if k < 0 || !strings.Contains(lines[j][:k], pid) {
				continue
			}
			text := []string{strings.TrimSpace(lines[j][k+len("STATEMENT:"):])}
			for m := j + 1; m < len(lines) && strings.HasPrefix(lines[m], "\t"); m++ {
				text = append(text, strings.TrimSpace(lines[m]))
			}
			q := strings.Join(text, " ")
			if !slices.Contains(out, q) {
				out = append(out, q)
			}
			break
		}
	}
	return out
}
