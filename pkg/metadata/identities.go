package metadata

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/sqldb"
)

// Identity links an identity provider's account (issuer and subject) to the
// user it signs in as.
type Identity struct {
	Issuer    string
	Subject   string
	UserID    string
	CreatedAt time.Time
}

// Identities are the identity provider accounts users signed in with.
type Identities interface {
	// IdentityUser returns the id of the user an account is linked to;
	// errs.ErrNotFound when it is not linked.
	IdentityUser(ctx context.Context, issuer, subject string) (string, error)
	// IdentitySubject returns the subject of the issuer's account linked to a
	// user; errs.ErrNotFound when there is none.
	IdentitySubject(ctx context.Context, issuer, userID string) (string, error)
	// LinkIdentity links an account to a user; errs.ErrAlreadyExists when
	// the account is linked already.
	LinkIdentity(ctx context.Context, id Identity) error
	// UserByEmail returns the user an administrator gave an e-mail address
	// (compared in lower case); errs.ErrNotFound when none has it.
	UserByEmail(ctx context.Context, email string) (User, error)
	// SetUserEmail sets (or, with "", clears) a user's e-mail address;
	// errs.ErrAlreadyExists when another user has it.
	SetUserEmail(ctx context.Context, name, email string) error
}

// NormalizeEmail checks an e-mail address loosely (one "@" with text on
// both sides, no spaces, at most 254 characters) and lower-cases it; "" stays "".
func NormalizeEmail(email string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(email))
	if e == "" {
		return "", nil
	}
	local, domain, ok := strings.Cut(e, "@")
	if !ok || local == "" || domain == "" || strings.ContainsAny(e, " \t\r\n") || strings.Contains(domain, "@") || len(e) > 254 {
		return "", errs.Invalidf("e-mail address %q is invalid", email)
	}
	return e, nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func emailTaken(email string) error {
	return errs.AlreadyExistsf("another user has the e-mail address %q", email)
}

var _ Identities = (*SQL)(nil)

func (s *SQL) IdentityUser(ctx context.Context, issuer, subject string) (string, error) {
	var userID string
	err := s.db.QueryRow(ctx, `SELECT user_id FROM user_identities WHERE issuer = ? AND subject = ?`, issuer, subject).Scan(&userID)
	return userID, sqldb.MapErr(err)
}

func (s *SQL) IdentitySubject(ctx context.Context, issuer, userID string) (string, error) {
	var subject string
	err := s.db.QueryRow(ctx, `SELECT subject FROM user_identities WHERE issuer = ? AND user_id = ?`, issuer, userID).Scan(&subject)
	return subject, sqldb.MapErr(err)
}

func (s *SQL) LinkIdentity(ctx context.Context, id Identity) error {
	_, err := s.db.Exec(ctx, `INSERT INTO user_identities (issuer, subject, user_id, created_at) VALUES (?, ?, ?, ?)`,
		id.Issuer, id.Subject, id.UserID, id.CreatedAt.UnixMicro())
	return err
}

func (s *SQL) UserByEmail(ctx context.Context, email string) (User, error) {
	e, err := NormalizeEmail(email)
	if err != nil || e == "" {
		return User{}, notFound("user with e-mail", email)
	}
	u, err := scanUser(s.db.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE email = ?`, e))
	return u, scanErr(err, "user with e-mail", e)
}

func (s *SQL) SetUserEmail(ctx context.Context, name, email string) error {
	e, err := NormalizeEmail(email)
	if err != nil {
		return err
	}
	res, err := s.db.Exec(ctx, `UPDATE users SET email = ? WHERE name = ?`, nullString(e), name)
	if errors.Is(err, errs.ErrAlreadyExists) {
		return emailTaken(e)
	}
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return notFound("user", name)
	}
	return nil
}
