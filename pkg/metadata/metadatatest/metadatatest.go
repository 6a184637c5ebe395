// Package metadatatest is the conformance suite every metadata driver
// (SQLite, PostgreSQL) runs, each on a fresh database migrated with the
// production migrations.
package metadatatest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/sqldb"
)

// Factory returns a fresh, migrated, empty store.
type Factory func(t *testing.T) metadata.Store

// Run runs the suite.
func Run(t *testing.T, newStore Factory) {
	t.Run("Orgs", func(t *testing.T) { testOrgs(t, newStore(t)) })
	t.Run("Users", func(t *testing.T) { testUsers(t, newStore(t)) })
	t.Run("UserEmails", func(t *testing.T) { testUserEmails(t, newStore(t)) })
	t.Run("Members", func(t *testing.T) { testMembers(t, newStore(t)) })
	t.Run("Tokens", func(t *testing.T) { testTokens(t, newStore(t)) })
	t.Run("DeleteOrgCascades", func(t *testing.T) { testDeleteOrg(t, newStore(t)) })
	t.Run("Blobs", func(t *testing.T) { testBlobs(t, newStore(t)) })
	t.Run("BlobRefsInTransaction", func(t *testing.T) { testBlobRefsTx(t, newStore(t)) })
	t.Run("BlobBatches", func(t *testing.T) { testBlobBatches(t, newStore(t)) })
	t.Run("BlobLookupsAndPacks", func(t *testing.T) { testBlobLookups(t, newStore(t)) })
	t.Run("Documents", func(t *testing.T) { testDocuments(t, newStore(t)) })
	t.Run("Generations", func(t *testing.T) { testGenerations(t, newStore(t)) })
	t.Run("ConcurrentGenerations", func(t *testing.T) { testConcurrentGenerations(t, newStore(t)) })
	t.Run("TransactionRollback", func(t *testing.T) { testRollback(t, newStore(t)) })
}

func testOrgs(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	o, err := s.CreateOrg(ctx, metadata.Org{Name: "acme"})
	require.NoError(t, err)
	require.Len(t, o.ID, 32)
	require.False(t, o.Public, "organizations are private by default")

	_, err = s.CreateOrg(ctx, metadata.Org{Name: "acme"})
	require.ErrorIs(t, err, errs.ErrAlreadyExists)
	require.Contains(t, err.Error(), "acme")

	_, err = s.CreateOrg(ctx, metadata.Org{Name: "Bad Name"})
	require.ErrorIs(t, err, errs.ErrInvalidArgument)

	got, err := s.GetOrg(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, o.ID, got.ID)
	require.WithinDuration(t, o.CreatedAt, got.CreatedAt, time.Millisecond)
	byID, err := s.GetOrgByID(ctx, o.ID)
	require.NoError(t, err)
	require.Equal(t, "acme", byID.Name)

	_, err = s.GetOrg(ctx, "nope")
	require.ErrorIs(t, err, errs.ErrNotFound)

	require.NoError(t, s.SetOrgPublic(ctx, "acme", true))
	got, _ = s.GetOrg(ctx, "acme")
	require.True(t, got.Public)
	require.ErrorIs(t, s.SetOrgPublic(ctx, "nope", true), errs.ErrNotFound)

	_, err = s.CreateOrg(ctx, metadata.Org{Name: "beta", Public: true})
	require.NoError(t, err)
	list, err := s.ListOrgs(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, "acme", list[0].Name)
	require.Equal(t, "beta", list[1].Name)

	require.NoError(t, s.DeleteOrg(ctx, "beta"))
	require.ErrorIs(t, s.DeleteOrg(ctx, "beta"), errs.ErrNotFound)
}

func testUsers(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	u, err := s.CreateUser(ctx, metadata.User{Name: "alice", Admin: true})
	require.NoError(t, err)
	_, err = s.CreateUser(ctx, metadata.User{Name: "alice"})
	require.ErrorIs(t, err, errs.ErrAlreadyExists)
	got, err := s.GetUser(ctx, "alice")
	require.NoError(t, err)
	require.True(t, got.Admin)
	require.False(t, got.Bot)
	byID, err := s.GetUserByID(ctx, u.ID)
	require.NoError(t, err)
	require.Equal(t, "alice", byID.Name)
	_, err = s.CreateUser(ctx, metadata.User{Name: "ci-bot", Bot: true})
	require.NoError(t, err)
	list, err := s.ListUsers(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.NoError(t, s.DeleteUser(ctx, "ci-bot"))
	_, err = s.GetUser(ctx, "ci-bot")
	require.ErrorIs(t, err, errs.ErrNotFound)
}

// E-mail addresses are stored in lower case, found case-insensitively, and
// belong to one user at a time.
func testUserEmails(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	_, err := s.CreateUser(ctx, metadata.User{Name: "alice", Email: "Alice@Example.COM"})
	require.NoError(t, err)
	got, err := s.UserByEmail(ctx, "alice@example.com")
	require.NoError(t, err)
	require.Equal(t, "alice", got.Name)
	require.Equal(t, "alice@example.com", got.Email)
	_, err = s.CreateUser(ctx, metadata.User{Name: "bob", Email: "ALICE@example.com"})
	require.ErrorIs(t, err, errs.ErrAlreadyExists)
	require.ErrorContains(t, err, "e-mail")
	_, err = s.CreateUser(ctx, metadata.User{Name: "bob"})
	require.NoError(t, err)
	_, err = s.CreateUser(ctx, metadata.User{Name: "carol"})
	require.NoError(t, err, "many users without an address")
	require.ErrorIs(t, s.SetUserEmail(ctx, "bob", "alice@EXAMPLE.com"), errs.ErrAlreadyExists)
	require.ErrorIs(t, s.SetUserEmail(ctx, "bob", "not-an-address"), errs.ErrInvalidArgument)
	require.ErrorIs(t, s.SetUserEmail(ctx, "nobody", "x@example.com"), errs.ErrNotFound)
	require.NoError(t, s.SetUserEmail(ctx, "bob", "bob@example.com"))
	got, err = s.GetUser(ctx, "bob")
	require.NoError(t, err)
	require.Equal(t, "bob@example.com", got.Email)
	require.NoError(t, s.SetUserEmail(ctx, "alice", ""))
	_, err = s.UserByEmail(ctx, "alice@example.com")
	require.ErrorIs(t, err, errs.ErrNotFound)
	_, err = s.UserByEmail(ctx, "")
	require.ErrorIs(t, err, errs.ErrNotFound)
}

func testMembers(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	o, _ := s.CreateOrg(ctx, metadata.Org{Name: "acme"})
	u, _ := s.CreateUser(ctx, metadata.User{Name: "bob"})
	_, err := s.GetRole(ctx, o.ID, u.ID)
	require.ErrorIs(t, err, errs.ErrNotFound)
	require.NoError(t, s.SetMember(ctx, o.ID, u.ID, metadata.RoleRead))
	r, err := s.GetRole(ctx, o.ID, u.ID)
	require.NoError(t, err)
	require.Equal(t, metadata.RoleRead, r)
	require.NoError(t, s.SetMember(ctx, o.ID, u.ID, metadata.RoleAdmin))
	r, _ = s.GetRole(ctx, o.ID, u.ID)
	require.Equal(t, metadata.RoleAdmin, r)
	require.ErrorIs(t, s.SetMember(ctx, o.ID, u.ID, "owner"), errs.ErrInvalidArgument)
	require.ErrorIs(t, s.SetMember(ctx, o.ID, "nosuchuser", metadata.RoleRead), errs.ErrNotFound)
	ms, err := s.ListMembers(ctx, o.ID)
	require.NoError(t, err)
	require.Equal(t, []metadata.Member{{OrgID: o.ID, UserID: u.ID, User: "bob", Role: metadata.RoleAdmin}}, ms)
	org, role, err := s.GetOrgRole(ctx, "acme", u.ID)
	require.NoError(t, err)
	require.Equal(t, o.ID, org.ID)
	require.Equal(t, metadata.RoleAdmin, role)
	require.NoError(t, s.RemoveMember(ctx, o.ID, u.ID))
	require.ErrorIs(t, s.RemoveMember(ctx, o.ID, u.ID), errs.ErrNotFound)
	org, role, err = s.GetOrgRole(ctx, "acme", u.ID)
	require.NoError(t, err)
	require.Equal(t, "acme", org.Name)
	require.Equal(t, metadata.Role(""), role, "no role when not a member")
	_, _, err = s.GetOrgRole(ctx, "nope", u.ID)
	require.ErrorIs(t, err, errs.ErrNotFound)
}

func testTokens(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	o, _ := s.CreateOrg(ctx, metadata.Org{Name: "acme"})
	u, _ := s.CreateUser(ctx, metadata.User{Name: "bob"})
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	tok := metadata.Token{ID: "abcd1234", Hash: []byte{1, 2, 3, 0, 255}, UserID: u.ID, OrgID: o.ID,
		Scope: metadata.RoleWrite, Name: "ci", ExpiresAt: exp}
	require.NoError(t, s.CreateToken(ctx, tok))
	require.ErrorIs(t, s.CreateToken(ctx, tok), errs.ErrAlreadyExists)
	got, err := s.GetToken(ctx, "abcd1234")
	require.NoError(t, err)
	require.Equal(t, tok.Hash, got.Hash)
	require.Equal(t, metadata.RoleWrite, got.Scope)
	require.Equal(t, o.ID, got.OrgID)
	require.True(t, exp.Equal(got.ExpiresAt), "expiry %v != %v", exp, got.ExpiresAt)
	require.True(t, got.RevokedAt.IsZero())
	require.True(t, got.Active(time.Now()))
	require.False(t, got.Active(exp.Add(time.Second)))

	never := metadata.Token{ID: "efgh5678", Hash: []byte{9}, UserID: u.ID, OrgID: o.ID, Scope: metadata.RoleRead}
	require.NoError(t, s.CreateToken(ctx, never))
	got, _ = s.GetToken(ctx, "efgh5678")
	require.True(t, got.ExpiresAt.IsZero())

	list, err := s.ListTokens(ctx, o.ID)
	require.NoError(t, err)
	require.Len(t, list, 2)
	other, _ := s.CreateUser(ctx, metadata.User{Name: "carol"})
	require.NoError(t, s.CreateToken(ctx, metadata.Token{ID: "ijkl9012", Hash: []byte{7}, UserID: other.ID, Scope: metadata.RoleAdmin}))
	mine, err := s.ListUserTokens(ctx, u.ID)
	require.NoError(t, err)
	require.Len(t, mine, 2, "bob's tokens only")
	theirs, err := s.ListUserTokens(ctx, other.ID)
	require.NoError(t, err)
	require.Len(t, theirs, 1)
	require.Empty(t, theirs[0].OrgID, "a token limited to no organization")
	lt, lu, err := s.LookupToken(ctx, "abcd1234")
	require.NoError(t, err)
	require.Equal(t, tok.Hash, lt.Hash)
	require.True(t, exp.Equal(lt.ExpiresAt))
	require.Equal(t, "bob", lu.Name)
	_, _, err = s.LookupToken(ctx, "nope")
	require.ErrorIs(t, err, errs.ErrNotFound)

	require.NoError(t, s.RevokeToken(ctx, "abcd1234", time.Time{}))
	got, _ = s.GetToken(ctx, "abcd1234")
	require.False(t, got.RevokedAt.IsZero())
	require.False(t, got.Active(time.Now()))
	first := got.RevokedAt
	require.NoError(t, s.RevokeToken(ctx, "abcd1234", time.Now().Add(time.Hour)))
	got, _ = s.GetToken(ctx, "abcd1234")
	require.True(t, first.Equal(got.RevokedAt), "a second revocation keeps the first time")
	require.ErrorIs(t, s.RevokeToken(ctx, "nope", time.Time{}), errs.ErrNotFound)
	_, err = s.GetToken(ctx, "nope")
	require.ErrorIs(t, err, errs.ErrNotFound)
}

func testDeleteOrg(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	o, _ := s.CreateOrg(ctx, metadata.Org{Name: "acme"})
	other, _ := s.CreateOrg(ctx, metadata.Org{Name: "other"})
	bot, _ := s.CreateUser(ctx, metadata.User{Name: "acme-bot", Bot: true})
	person, _ := s.CreateUser(ctx, metadata.User{Name: "carol"})
	require.NoError(t, s.SetMember(ctx, o.ID, bot.ID, metadata.RoleWrite))
	require.NoError(t, s.SetMember(ctx, o.ID, person.ID, metadata.RoleAdmin))
	require.NoError(t, s.SetMember(ctx, other.ID, person.ID, metadata.RoleRead))
	require.NoError(t, s.CreateToken(ctx, metadata.Token{ID: "t1", Hash: []byte{1}, UserID: bot.ID, OrgID: o.ID, Scope: metadata.RoleWrite}))
	require.NoError(t, s.DeleteOrg(ctx, "acme"))
	_, err := s.GetToken(ctx, "t1")
	require.ErrorIs(t, err, errs.ErrNotFound)
	_, err = s.GetUser(ctx, "acme-bot")
	require.ErrorIs(t, err, errs.ErrNotFound, "the organization's bot user goes with it")
	_, err = s.GetUser(ctx, "carol")
	require.NoError(t, err, "people stay")
	r, err := s.GetRole(ctx, other.ID, person.ID)
	require.NoError(t, err)
	require.Equal(t, metadata.RoleRead, r)
}

func testBlobs(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	d := "aa" + repeat("0", 62)
	_, err := s.GetBlob(ctx, d)
	require.ErrorIs(t, err, errs.ErrNotFound)
	old := time.Now().Add(-2 * time.Hour).UTC()
	require.NoError(t, s.RecordBlob(ctx, metadata.Blob{Digest: d, Size: 3, Extra: map[string]string{"sha1": "x1"}, CreatedAt: old, TouchedAt: old}))
	require.NoError(t, s.RecordBlob(ctx, metadata.Blob{Digest: d, Size: 3, Extra: map[string]string{"shake256": "y2"}, TouchedAt: old}))
	b, err := s.GetBlob(ctx, d)
	require.NoError(t, err)
	require.Equal(t, int64(3), b.Size)
	require.Equal(t, map[string]string{"sha1": "x1", "shake256": "y2"}, b.Extra, "extra digests merge")

	cutoff := time.Now().Add(-time.Hour)
	un, err := s.UnreferencedBlobs(ctx, cutoff, 10)
	require.NoError(t, err)
	require.Equal(t, []string{d}, un)

	require.NoError(t, s.AddBlobRef(ctx, nil, d, "composer:dist:1"))
	require.NoError(t, s.AddBlobRef(ctx, nil, d, "composer:dist:1"), "adding a reference twice is harmless")
	un, _ = s.UnreferencedBlobs(ctx, cutoff, 10)
	require.Empty(t, un)
	ok, err := s.DeleteBlobRecord(ctx, d, cutoff)
	require.NoError(t, err)
	require.False(t, ok, "a referenced blob is never deleted")

	require.ErrorIs(t, s.AddBlobRef(ctx, nil, "bb"+repeat("0", 62), "x"), errs.ErrFailedPrecondition)

	require.NoError(t, s.RemoveBlobRefs(ctx, nil, "composer:dist:1"))
	// Touching (a writer reusing the blob) protects it from collection.
	require.NoError(t, s.RecordBlob(ctx, metadata.Blob{Digest: d, Size: 3}))
	ok, err = s.DeleteBlobRecord(ctx, d, cutoff)
	require.NoError(t, err)
	require.False(t, ok, "a recently touched blob is kept")
	ok, err = s.DeleteBlobRecord(ctx, d, time.Now().Add(time.Minute))
	require.NoError(t, err)
	require.True(t, ok)
	_, err = s.GetBlob(ctx, d)
	require.ErrorIs(t, err, errs.ErrNotFound)
}

// testBlobBatches: RecordBlobs and AddBlobRefs do what RecordBlob and
// AddBlobRef do for each blob, over more blobs than one statement names.
func testBlobBatches(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	old := time.Now().Add(-2 * time.Hour).UTC()
	known := "dd" + repeat("0", 62)
	require.NoError(t, s.RecordBlob(ctx, metadata.Blob{Digest: known, Size: 2, Extra: map[string]string{"sha1": "x1"}, CreatedAt: old, TouchedAt: old}))
	batch := []metadata.Blob{{Digest: known, Size: 2, Extra: map[string]string{"shake256": "y2"}}}
	var digests []string
	for i := range 1000 {
		d := fmt.Sprintf("%064x", i+1)
		batch = append(batch, metadata.Blob{Digest: d, Size: int64(i), Extra: map[string]string{"shake256": d}})
		digests = append(digests, d)
	}
	batch = append(batch, batch[1]) // twice in one batch
	require.NoError(t, s.RecordBlobs(ctx, batch))
	b, err := s.GetBlob(ctx, known)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"sha1": "x1", "shake256": "y2"}, b.Extra, "extra digests merge")
	require.True(t, b.TouchedAt.After(old), "a known blob is touched")
	b, err = s.GetBlob(ctx, digests[999])
	require.NoError(t, err)
	require.Equal(t, int64(999), b.Size)

	cutoff := time.Now().Add(time.Minute)
	un, err := s.UnreferencedBlobs(ctx, cutoff, 2000)
	require.NoError(t, err)
	require.Len(t, un, 1001)
	require.NoError(t, s.AddBlobRefs(ctx, nil, append(digests, known), "buf:module:1"))
	require.NoError(t, s.AddBlobRefs(ctx, nil, digests[:10], "buf:module:1"), "adding references twice is harmless")
	un, _ = s.UnreferencedBlobs(ctx, cutoff, 2000)
	require.Empty(t, un)
	require.ErrorIs(t, s.AddBlobRefs(ctx, nil, []string{"ee" + repeat("0", 62)}, "x"), errs.ErrFailedPrecondition)
}

// testBlobLookups: GetBlobs and TouchBlobs answer for many digests at
// once, only the recorded ones, with their pack locations; TouchBlobs
// touches them; PackInUse follows the rows naming a pack.
func testBlobLookups(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	old := time.Now().Add(-2 * time.Hour).UTC().Truncate(time.Microsecond)
	pack := "ab" + repeat("1", 30)
	var batch []metadata.Blob
	var digests []string
	for i := range 900 {
		d := fmt.Sprintf("%064x", i+1)
		b := metadata.Blob{Digest: d, Size: int64(i), Extra: map[string]string{"shake256": d}, CreatedAt: old, TouchedAt: old}
		if i%2 == 0 {
			b.Pack, b.Offset = pack, int64(10*i)
		}
		batch = append(batch, b)
		digests = append(digests, d)
	}
	require.NoError(t, s.RecordBlobs(ctx, batch))
	absent := "ff" + repeat("0", 62)
	got, err := s.GetBlobs(ctx, append([]string{absent}, digests...))
	require.NoError(t, err)
	require.Len(t, got, 900)
	require.Equal(t, batch[4], got[digests[4]])
	require.Equal(t, batch[5], got[digests[5]])
	require.NoError(t, s.RecordBlob(ctx, metadata.Blob{Digest: digests[4], Size: 4, Pack: "cd" + repeat("2", 30), Offset: 1}))
	b, err := s.GetBlob(ctx, digests[4])
	require.NoError(t, err)
	require.Equal(t, pack, b.Pack, "a recorded blob keeps its location")
	require.Equal(t, int64(40), b.Offset)

	now := time.Now().UTC().Truncate(time.Microsecond)
	touched, err := s.TouchBlobs(ctx, append(slices.Clone(digests[:500]), absent), now)
	require.NoError(t, err)
	require.Len(t, touched, 500, "only the recorded ones")
	require.Equal(t, now, touched[digests[0]].TouchedAt)
	require.Equal(t, pack, touched[digests[0]].Pack)
	b, err = s.GetBlob(ctx, digests[499])
	require.NoError(t, err)
	require.Equal(t, now, b.TouchedAt, "touched")
	b, err = s.GetBlob(ctx, digests[500])
	require.NoError(t, err)
	require.Equal(t, old, b.TouchedAt, "the others are not")

	used, err := s.PackInUse(ctx, pack)
	require.NoError(t, err)
	require.True(t, used)
	for i := 0; i < 900; i += 2 {
		ok, err := s.DeleteBlobRecord(ctx, digests[i], now.Add(time.Minute))
		require.NoError(t, err)
		require.True(t, ok)
	}
	used, err = s.PackInUse(ctx, pack)
	require.NoError(t, err)
	require.False(t, used, "no row names the pack any more")
}

func testBlobRefsTx(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	d := "cc" + repeat("1", 62)
	require.NoError(t, s.RecordBlob(ctx, metadata.Blob{Digest: d, Size: 1}))
	boom := errs.Invalidf("boom")
	err := s.DB().InTx(ctx, func(tx *sqldb.Tx) error {
		require.NoError(t, s.AddBlobRef(ctx, tx, d, "r1"))
		return boom
	})
	require.ErrorIs(t, err, boom)
	un, _ := s.UnreferencedBlobs(ctx, time.Now().Add(time.Minute), 10)
	require.Equal(t, []string{d}, un, "a rolled back reference does not count")
	require.NoError(t, s.DB().InTx(ctx, func(tx *sqldb.Tx) error { return s.AddBlobRef(ctx, tx, d, "r1") }))
	un, _ = s.UnreferencedBlobs(ctx, time.Now().Add(time.Minute), 10)
	require.Empty(t, un)
	require.NoError(t, s.RemoveBlobRef(ctx, nil, d, "r1"))
	un, _ = s.UnreferencedBlobs(ctx, time.Now().Add(time.Minute), 10)
	require.Equal(t, []string{d}, un)
}

func testDocuments(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	_, err := s.GetDocument(ctx, nil, "composer:acme", "packages.json")
	require.ErrorIs(t, err, errs.ErrNotFound)
	mt := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	body := []byte("{\"packages\":{}}\x00\xff")
	require.NoError(t, s.PutDocument(ctx, nil, metadata.Document{Scope: "composer:acme", Key: "packages.json", Body: body, ContentType: "application/json", ModTime: mt}))
	d, err := s.GetDocument(ctx, nil, "composer:acme", "packages.json")
	require.NoError(t, err)
	require.Equal(t, body, d.Body)
	require.Equal(t, "application/json", d.ContentType)
	require.True(t, mt.Equal(d.ModTime))
	require.NoError(t, s.PutDocument(ctx, nil, metadata.Document{Scope: "composer:acme", Key: "packages.json", Body: []byte("v2"), ModTime: mt.Add(time.Second)}))
	d, _ = s.GetDocument(ctx, nil, "composer:acme", "packages.json")
	require.Equal(t, []byte("v2"), d.Body)
	require.NoError(t, s.PutDocument(ctx, nil, metadata.Document{Scope: "composer:acme", Key: "p2/a/b.json", Body: []byte{}}))
	d, err = s.GetDocument(ctx, nil, "composer:acme", "p2/a/b.json")
	require.NoError(t, err)
	require.Empty(t, d.Body)
	require.NoError(t, s.DeleteDocuments(ctx, nil, "composer:acme", "p2/a/b.json"))
	_, err = s.GetDocument(ctx, nil, "composer:acme", "p2/a/b.json")
	require.ErrorIs(t, err, errs.ErrNotFound)
	require.NoError(t, s.DeleteDocuments(ctx, nil, "composer:acme"))
	_, err = s.GetDocument(ctx, nil, "composer:acme", "packages.json")
	require.ErrorIs(t, err, errs.ErrNotFound)
}

func testGenerations(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	g, err := s.Generation(ctx, "composer:acme")
	require.NoError(t, err)
	require.Zero(t, g)
	g, err = s.BumpGeneration(ctx, nil, "composer:acme")
	require.NoError(t, err)
	require.Equal(t, int64(1), g)
	g, _ = s.BumpGeneration(ctx, nil, "composer:acme")
	require.Equal(t, int64(2), g)
	g, _ = s.Generation(ctx, "composer:acme")
	require.Equal(t, int64(2), g)
	g, _ = s.Generation(ctx, "composer:other")
	require.Zero(t, g)
}

func testConcurrentGenerations(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	const n = 20
	var wg sync.WaitGroup
	errCh := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.DB().InTx(ctx, func(tx *sqldb.Tx) error {
				_, err := s.BumpGeneration(ctx, tx, "race")
				return err
			})
			errCh <- err
		}()
	}
	wg.Wait()
	close(errCh)
	for err := range errCh {
		require.NoError(t, err)
	}
	g, err := s.Generation(context.Background(), "race")
	require.NoError(t, err)
	require.Equal(t, int64(n), g, "every bump counts once")
}

func testRollback(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	err := s.DB().InTx(ctx, func(tx *sqldb.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO orgs (id, name, public, created_at) VALUES (?, ?, ?, ?)`, metadata.NewID(), "ghost", false, 1); err != nil {
			return err
		}
		return errs.Invalidf("stop")
	})
	require.ErrorIs(t, err, errs.ErrInvalidArgument)
	_, err = s.GetOrg(ctx, "ghost")
	require.ErrorIs(t, err, errs.ErrNotFound)
}

func repeat(s string, n int) string {
	out := make([]byte, 0, n)
	for range n {
		out = append(out, s...)
	}
	return string(out)
}

// Bench measures the metadata operations on packyard's hot paths: token
// lookup (every authenticated request), organization and role lookup
// (every authorization), document reads (Composer metadata) and writes.
func Bench(b *testing.B, s metadata.Store) {
	ctx := context.Background()
	org, err := s.CreateOrg(ctx, metadata.Org{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	u, _ := s.CreateUser(ctx, metadata.User{Name: "bench-user"})
	_ = s.SetMember(ctx, org.ID, u.ID, metadata.RoleWrite)
	_ = s.CreateToken(ctx, metadata.Token{ID: "benchtoken", Hash: []byte("h"), UserID: u.ID, OrgID: org.ID, Scope: metadata.RoleRead})
	body := make([]byte, 16<<10)
	_ = s.PutDocument(ctx, nil, metadata.Document{Scope: "bench", Key: "doc", Body: body})

	b.Run("GetToken", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.GetToken(ctx, "benchtoken"); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("GetOrgAndRole", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				o, err := s.GetOrg(ctx, "bench")
				if err != nil {
					b.Fatal(err)
				}
				if _, err := s.GetRole(ctx, o.ID, u.ID); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("GetDocument16KiB", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.GetDocument(ctx, nil, "bench", "doc"); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("PutDocumentAndBumpGeneration", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			err := s.DB().InTx(ctx, func(tx *sqldb.Tx) error {
				if err := s.PutDocument(ctx, tx, metadata.Document{Scope: "bench", Key: "w", Body: body[:1024]}); err != nil {
					return err
				}
				_, err := s.BumpGeneration(ctx, tx, "bench")
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}
