DROP TABLE mail_sent;
DROP TABLE mail_outbox;
DROP TABLE mail_tokens;
ALTER TABLE users DROP COLUMN email_verified;
