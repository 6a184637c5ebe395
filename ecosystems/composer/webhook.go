package composer

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"strings"

	"github.com/packyard/packyard/pkg/errs"
)

// VerifyPushSignature checks a git host's webhook delivery against the
// source's secret, in constant time:
//   - GitHub: X-Hub-Signature-256 "sha256=<hmac>" (or the older X-Hub-Signature "sha1=<hmac>")
//   - Gitea / Gogs / Forgejo: X-Gitea-Signature, X-Gogs-Signature, X-Forgejo-Signature "<hmac>"
//   - Bitbucket: X-Hub-Signature "sha256=<hmac>"
//   - GitLab: X-Gitlab-Token "<secret>"
//
// The HMACs are over the raw body.
func VerifyPushSignature(h http.Header, body []byte, secret string) error {
	if secret == "" {
		return errs.PreconditionFailedf("this source has no webhook secret")
	}
	if tok := h.Get("X-Gitlab-Token"); tok != "" {
		if subtle.ConstantTimeCompare([]byte(tok), []byte(secret)) == 1 {
			return nil
		}
		return errs.PermissionDeniedf("webhook token mismatch")
	}
	type candidate struct {
		header, prefix string
		newHash        func() hash.Hash
	}
	for _, c := range []candidate{
		{"X-Hub-Signature-256", "sha256=", sha256.New},
		{"X-Gitea-Signature", "", sha256.New},
		{"X-Forgejo-Signature", "", sha256.New},
		{"X-Gogs-Signature", "", sha256.New},
		{"X-Hub-Signature", "sha256=", sha256.New},
		{"X-Hub-Signature", "sha1=", sha1.New},
	} {
		v := strings.TrimSpace(h.Get(c.header))
		if v == "" || !strings.HasPrefix(v, c.prefix) {
			continue
		}
		got, err := hex.DecodeString(strings.TrimPrefix(v, c.prefix))
		if err != nil {
			return errs.PermissionDeniedf("webhook signature in %s is malformed", c.header)
		}
		m := hmac.New(c.newHash, []byte(secret))
		m.Write(body)
		if hmac.Equal(got, m.Sum(nil)) {
			return nil
		}
		return errs.PermissionDeniedf("webhook signature mismatch (check the secret configured on the git host)")
	}
	return errs.PermissionDeniedf("webhook delivery carries no signature: set the secret on the git host (X-Hub-Signature-256, X-Gitea-Signature or X-Gitlab-Token)")
}

// IsPing reports a delivery that only tests the webhook (GitHub's "ping").
func IsPing(h http.Header) bool {
	return h.Get("X-GitHub-Event") == "ping" || h.Get("X-Gitea-Event") == "ping"
}

// VerifyWebhook checks a delivery for a source of an organization. A
// missing organization, a missing source and a source of another
// organization are one answer, "webhook not found": the route is open to
// anyone, so it must not tell which organizations exist.
func (s *Service) VerifyWebhook(ctx context.Context, orgName, sourceID string, h http.Header, body []byte) error {
	notFound := errs.NotFoundf("webhook not found")
	org, err := s.repo.org(ctx, orgName)
	if errors.Is(err, errs.ErrNotFound) {
		return notFound
	}
	if err != nil {
		return err
	}
	src, err := s.sourceByID(ctx, sourceID)
	if errors.Is(err, errs.ErrNotFound) || (err == nil && src.OrgID != org.ID) {
		return notFound
	}
	if err != nil {
		return err
	}
	if len(src.WebhookSecret) == 0 {
		return errs.PreconditionFailedf("webhooks are off for this source: it was added without PACKYARD_SECRET_KEY; remove and add it again with a key configured")
	}
	secret, err := s.box.Open(src.WebhookSecret, sealContext(src.ID)+":webhook")
	if err != nil {
		return err
	}
	return VerifyPushSignature(h, body, string(secret))
}

// QueueSync queues a sync of a source, for a webhook delivery, and records
// who asked. It returns once the job is committed to the database (so an
// acknowledged delivery is never lost: any replica will sync); a delivery
// while a sync of the source is already queued joins that one.
func (s *Service) QueueSync(ctx context.Context, orgName, sourceID string) error {
	return s.queueSync(ctx, orgName, sourceID, "webhook")
}

// queueSync commits a sync job for a source, wakes this replica's worker
// and records the trigger (webhook, web) in the audit log.
func (s *Service) queueSync(ctx context.Context, orgName, sourceID, trigger string) error {
	if err := s.jobs.Queue.Enqueue(ctx, syncJob, sourceID); err != nil {
		return fmt.Errorf("queue a sync: %w", err)
	}
	s.syncs.Wake()
	s.recordSync(ctx, orgName, sourceID, trigger)
	return nil
}
