DROP TABLE link_tickets;
DROP TABLE login_codes;
DROP TABLE provider_attempts;
DROP TABLE identities;
ALTER TABLE users DROP COLUMN has_password;
