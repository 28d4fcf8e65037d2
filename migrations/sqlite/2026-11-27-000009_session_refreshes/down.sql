ALTER TABLE sessions DROP COLUMN last_user_agent;
ALTER TABLE sessions DROP COLUMN last_ip;
ALTER TABLE sessions DROP COLUMN refresh_count;
