-- Users: created here on an empty database, or extended where the original guide's
-- `users` table (id SERIAL, fewer columns) already exists. Every step is idempotent.
CREATE TABLE IF NOT EXISTS users (
    id BIGINT PRIMARY KEY
);

ALTER TABLE users ADD COLUMN IF NOT EXISTS email TEXT NULL;
ALTER TABLE users ADD COLUMN IF NOT EXISTS subscription_tier TEXT NOT NULL DEFAULT 'free';
ALTER TABLE users ADD COLUMN IF NOT EXISTS subscription_expires TIMESTAMPTZ NULL;
ALTER TABLE users ADD COLUMN IF NOT EXISTS requests_limit INTEGER NOT NULL DEFAULT 100;
ALTER TABLE users ADD COLUMN IF NOT EXISTS requests_used INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN IF NOT EXISTS created_at TIMESTAMPTZ NOT NULL DEFAULT now();
ALTER TABLE users ADD COLUMN IF NOT EXISTS updated_at TIMESTAMPTZ NOT NULL DEFAULT now();

-- Bring columns of a pre-existing table to the types and constraints the services rely on.
DO $$
BEGIN
    IF (SELECT data_type FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = 'users' AND column_name = 'id') <> 'bigint' THEN
        ALTER TABLE users ALTER COLUMN id TYPE BIGINT;
    END IF;
    IF (SELECT data_type FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = 'users' AND column_name = 'subscription_expires')
        = 'timestamp without time zone' THEN
        -- The guide stored naive UTC timestamps.
        ALTER TABLE users ALTER COLUMN subscription_expires TYPE TIMESTAMPTZ
            USING subscription_expires AT TIME ZONE 'UTC';
    END IF;
    IF (SELECT data_type FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = 'users' AND column_name = 'created_at')
        = 'timestamp without time zone' THEN
        ALTER TABLE users ALTER COLUMN created_at TYPE TIMESTAMPTZ USING created_at AT TIME ZONE 'UTC';
    END IF;
    IF (SELECT data_type FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = 'users' AND column_name = 'updated_at')
        = 'timestamp without time zone' THEN
        ALTER TABLE users ALTER COLUMN updated_at TYPE TIMESTAMPTZ USING updated_at AT TIME ZONE 'UTC';
    END IF;
END $$;

ALTER TABLE users ALTER COLUMN email TYPE TEXT;
-- Users are created on their first checkout, before we know an e-mail address.
ALTER TABLE users ALTER COLUMN email DROP NOT NULL;
ALTER TABLE users ALTER COLUMN subscription_tier TYPE TEXT;

UPDATE users SET subscription_tier = 'free' WHERE subscription_tier IS NULL;
UPDATE users SET requests_limit = 100 WHERE requests_limit IS NULL;
UPDATE users SET requests_used = 0 WHERE requests_used IS NULL;
UPDATE users SET created_at = now() WHERE created_at IS NULL;
UPDATE users SET updated_at = now() WHERE updated_at IS NULL;

ALTER TABLE users
    ALTER COLUMN subscription_tier SET DEFAULT 'free',
    ALTER COLUMN subscription_tier SET NOT NULL,
    ALTER COLUMN requests_limit SET DEFAULT 100,
    ALTER COLUMN requests_limit SET NOT NULL,
    ALTER COLUMN requests_used SET DEFAULT 0,
    ALTER COLUMN requests_used SET NOT NULL,
    ALTER COLUMN created_at SET DEFAULT now(),
    ALTER COLUMN created_at SET NOT NULL,
    ALTER COLUMN updated_at SET DEFAULT now(),
    ALTER COLUMN updated_at SET NOT NULL;

-- The expiry sweep looks for paid plans past their end.
CREATE INDEX IF NOT EXISTS users_subscription_expires_idx
    ON users (subscription_expires) WHERE subscription_tier <> 'free';
