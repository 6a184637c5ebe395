package audit

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/sqldb"
)

// Query selects events. The zero Query selects every event.
type Query struct {
	Org    string    // only this organization's events ("" = all)
	Since  time.Time // only events at or after Since
	Until  time.Time // only events before Until (zero = no bound)
	Action string    // only this action ("" = all)
	Actor  string    // only events of this user name ("" = all)
	Limit  int       // List: at most the latest Limit events (0 = DefaultLimit)
}

// DefaultLimit is how many events List returns when the query names no limit.
const DefaultLimit = 1000

// MaxLimit bounds List; Export has no bound.
const MaxLimit = 10000

// Store is a Recorder over the audit_events table of the metadata database
// (migration 00004), with queries for the API and the CLI.
type Store struct {
	db  *sqldb.DB
	now func() time.Time
}

var _ Recorder = (*Store)(nil)

// NewStore returns the store over a migrated database.
func NewStore(db *sqldb.DB) *Store {
	return &Store{db: db, now: func() time.Time { return time.Now().UTC() }}
}

func newID() string {
	u, err := uuid.NewV7()
	if err != nil {
		return hex.EncodeToString([]byte(uuid.NewString()))
	}
	return hex.EncodeToString(u[:])
}

// maxField bounds every text column: a client-chosen user agent must not
// fill the table.
const maxField = 512

func clip(s string) string {
	if len(s) <= maxField {
		return s
	}
	return s[:maxField]
}

// Record implements Recorder.
func (s *Store) Record(ctx context.Context, e Event) error {
	if e.Action == "" {
		return errs.Invalidf("audit: event without an action")
	}
	e = Fill(ctx, e, s.now())
	if e.ID == "" {
		e.ID = newID()
	}
	details := []byte("{}")
	if len(e.Details) > 0 {
		var err error
		if details, err = json.Marshal(e.Details); err != nil {
			return fmt.Errorf("audit: details: %w", err)
		}
	}
	_, err := s.db.Exec(ctx, `INSERT INTO audit_events (id, at, action, outcome, org, resource, actor_user, actor_id,
		actor_token, actor_method, client_addr, user_agent, request_id, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.Time.UnixMicro(), clip(e.Action), clip(e.Outcome), clip(e.Org), clip(e.Resource), clip(e.Actor.User),
		clip(e.Actor.UserID), clip(e.Actor.TokenID), clip(e.Actor.Method), clip(e.ClientAddr), clip(e.UserAgent),
		clip(e.RequestID), string(details))
	if err != nil {
		return fmt.Errorf("audit: record %s: %w", e.Action, err)
	}
	return nil
}

const cols = `id, at, action, outcome, org, resource, actor_user, actor_id, actor_token, actor_method, client_addr,
	user_agent, request_id, details`

func where(q Query) (string, []any) {
	var conds []string
	var args []any
	if q.Org != "" {
		conds = append(conds, "org = ?")
		args = append(args, q.Org)
	}
	if !q.Since.IsZero() {
		conds = append(conds, "at >= ?")
		args = append(args, q.Since.UnixMicro())
	}
	if !q.Until.IsZero() {
		conds = append(conds, "at < ?")
		args = append(args, q.Until.UnixMicro())
	}
	if q.Action != "" {
		conds = append(conds, "action = ?")
		args = append(args, q.Action)
	}
	if q.Actor != "" {
		conds = append(conds, "actor_user = ?")
		args = append(args, q.Actor)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// List returns the latest events the query selects, oldest first.
func (s *Store) List(ctx context.Context, q Query) ([]Event, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	if limit > MaxLimit {
		return nil, errs.Invalidf("audit: limit %d exceeds %d (use the export for more)", limit, MaxLimit)
	}
	w, args := where(q)
	rows, err := s.db.Query(ctx, `SELECT `+cols+` FROM audit_events`+w+` ORDER BY at DESC, id DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("audit: list: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		e, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: list: %w", sqldb.MapErr(err))
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// Export calls fn with every event the query selects, oldest first,
// streaming from the database (Limit is ignored).
func (s *Store) Export(ctx context.Context, q Query, fn func(Event) error) error {
	w, args := where(q)
	rows, err := s.db.Query(ctx, `SELECT `+cols+` FROM audit_events`+w+` ORDER BY at, id`, args...)
	if err != nil {
		return fmt.Errorf("audit: export: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scan(rows)
		if err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("audit: export: %w", sqldb.MapErr(err))
	}
	return nil
}

type scanner interface{ Scan(dest ...any) error }

func scan(r scanner) (Event, error) {
	var e Event
	var at int64
	var details string
	if err := r.Scan(&e.ID, &at, &e.Action, &e.Outcome, &e.Org, &e.Resource, &e.Actor.User, &e.Actor.UserID,
		&e.Actor.TokenID, &e.Actor.Method, &e.ClientAddr, &e.UserAgent, &e.RequestID, &details); err != nil {
		return Event{}, fmt.Errorf("audit: scan: %w", sqldb.MapErr(err))
	}
	e.Time = time.UnixMicro(at).UTC()
	if details != "" && details != "{}" {
		if err := json.Unmarshal([]byte(details), &e.Details); err != nil {
			return Event{}, fmt.Errorf("audit: event %s details: %w", e.ID, err)
		}
	}
	return e, nil
}
