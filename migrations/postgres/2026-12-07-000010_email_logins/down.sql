ALTER TABLE mfa_challenges DROP COLUMN first_factor;
DROP TABLE email_logins;
