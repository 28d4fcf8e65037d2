DROP INDEX IF EXISTS users_second_factor_idx;
DROP INDEX IF EXISTS users_disabled_idx;
