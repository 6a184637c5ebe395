package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/sqldb"
)

// Session is a stored browser session: never its id, only the id's hash.
type Session struct {
	IDHash    string // hex sha256 of the id the cookie carries
	TokenID   string // the token the session acts with
	UserID    string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Sessions stores browser sessions in the web_sessions table (migration
// 00011).
type Sessions struct{ db *sqldb.DB }

// NewSessions returns the store over a migrated database.
func NewSessions(db *sqldb.DB) *Sessions { return &Sessions{db: db} }

// NewSessionID returns a fresh random session id (the cookie's value).
func NewSessionID() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// HashSessionID is the stored form of a session id.
func HashSessionID(id string) string {
	h := sha256.Sum256([]byte("packyard-session:" + id))
	return hex.EncodeToString(h[:])
}

// Create stores a session; it also deletes expired ones.
func (s *Sessions) Create(ctx context.Context, sess Session) error {
	if _, err := s.db.Exec(ctx, `DELETE FROM web_sessions WHERE expires_at < ?`, sess.CreatedAt.UnixMicro()); err != nil {
		return errs.Wrap(errs.ErrUnavailable, "cannot store the session", err)
	}
	_, err := s.db.Exec(ctx, `INSERT INTO web_sessions (id_hash, token_id, user_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
		sess.IDHash, sess.TokenID, sess.UserID, sess.CreatedAt.UnixMicro(), sess.ExpiresAt.UnixMicro())
	if err != nil {
		return errs.Wrap(errs.ErrUnavailable, "cannot store the session", sqldb.MapErr(err))
	}
	return nil
}

// Get returns the unexpired session with the id hash, or an error wrapping
// errs.ErrNotFound.
func (s *Sessions) Get(ctx context.Context, idHash string, now time.Time) (Session, error) {
	var sess Session
	var created, expires int64
	err := s.db.QueryRow(ctx, `SELECT token_id, user_id, created_at, expires_at FROM web_sessions WHERE id_hash = ?`, idHash).
		Scan(&sess.TokenID, &sess.UserID, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, fmt.Errorf("session: %w", errs.ErrNotFound)
	}
	if err != nil {
		return Session{}, errs.Wrap(errs.ErrUnavailable, "cannot read the session", err)
	}
	sess.IDHash, sess.CreatedAt, sess.ExpiresAt = idHash, time.UnixMicro(created).UTC(), time.UnixMicro(expires).UTC()
	if !now.Before(sess.ExpiresAt) {
		_ = s.Delete(ctx, idHash)
		return Session{}, fmt.Errorf("session expired: %w", errs.ErrNotFound)
	}
	return sess, nil
}

// Delete removes a session (sign-out); a missing one is not an error.
func (s *Sessions) Delete(ctx context.Context, idHash string) error {
	if _, err := s.db.Exec(ctx, `DELETE FROM web_sessions WHERE id_hash = ?`, idHash); err != nil {
		return errs.Wrap(errs.ErrUnavailable, "cannot end the session", err)
	}
	return nil
}

// DeleteForToken removes every session started from a token.
func (s *Sessions) DeleteForToken(ctx context.Context, tokenID string) error {
	if _, err := s.db.Exec(ctx, `DELETE FROM web_sessions WHERE token_id = ?`, tokenID); err != nil {
		return errs.Wrap(errs.ErrUnavailable, "cannot end the sessions", err)
	}
	return nil
}
