DROP TABLE mfa_challenges;
DROP TABLE recovery_codes;
DROP TABLE totp_credentials;
ALTER TABLE sessions DROP COLUMN amr;
ALTER TABLE users DROP COLUMN passkey_count;
ALTER TABLE users DROP COLUMN recovery_codes_left;
ALTER TABLE users DROP COLUMN totp_enabled;
