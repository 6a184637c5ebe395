-- +goose Up
-- The e-mail address an administrator gave a user. With
-- PACKYARD_OIDC_LINK_BY_EMAIL, a first sign-in whose provider vouches for
-- the same address (email_verified) is linked to this user.
ALTER TABLE users ADD COLUMN email TEXT;
CREATE UNIQUE INDEX users_email ON users(email);

-- +goose Down
DROP INDEX users_email;
ALTER TABLE users DROP COLUMN email;
