-- Payments on the original guide's database: its `payments` table (SERIAL id, `amount`
-- FLOAT, `payment_data` TEXT, no `order_id`) already exists, so the first payments migration
-- left it as it was. Extend it the way the users migration extends `users`: add what is
-- missing, convert types without losing a row. Every step is idempotent (safe to run twice);
-- sqlx holds an advisory lock while migrating, so several replicas starting is safe too.

ALTER TABLE payments ADD COLUMN IF NOT EXISTS invoice_id TEXT NULL;
ALTER TABLE payments ADD COLUMN IF NOT EXISTS order_id TEXT NULL;
ALTER TABLE payments ADD COLUMN IF NOT EXISTS payment_method TEXT NULL;
ALTER TABLE payments ADD COLUMN IF NOT EXISTS payment_url TEXT NULL;
ALTER TABLE payments ADD COLUMN IF NOT EXISTS payment_data JSONB NULL;
ALTER TABLE payments ADD COLUMN IF NOT EXISTS failure_reason TEXT NULL;
ALTER TABLE payments ADD COLUMN IF NOT EXISTS subscription_months INTEGER NULL;
ALTER TABLE payments ADD COLUMN IF NOT EXISTS created_at TIMESTAMPTZ NOT NULL DEFAULT now();
ALTER TABLE payments ADD COLUMN IF NOT EXISTS updated_at TIMESTAMPTZ NOT NULL DEFAULT now();
ALTER TABLE payments ADD COLUMN IF NOT EXISTS paid_at TIMESTAMPTZ NULL;

-- Text that is not JSON is kept, wrapped, rather than failing the migration.
CREATE OR REPLACE FUNCTION pg_temp.payments_text_to_jsonb(t TEXT) RETURNS JSONB AS $$
BEGIN
    RETURN t::jsonb;
EXCEPTION WHEN others THEN
    RETURN jsonb_build_object('legacy_text', t);
END
$$ LANGUAGE plpgsql IMMUTABLE;

DO $$
DECLARE
    col RECORD;
BEGIN
    FOR col IN
        SELECT column_name, data_type FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = 'payments'
    LOOP
        IF col.column_name IN ('id', 'user_id') AND col.data_type = 'integer' THEN
            EXECUTE format('ALTER TABLE payments ALTER COLUMN %I TYPE BIGINT', col.column_name);
        ELSIF col.column_name = 'amount' AND col.data_type IN ('double precision', 'real') THEN
            -- A float's exact decimal expansion, rounded to the column's 8 places.
            ALTER TABLE payments ALTER COLUMN amount TYPE NUMERIC(20, 8)
                USING round(amount::numeric, 8);
        ELSIF col.column_name = 'payment_data' AND col.data_type IN ('text', 'character varying') THEN
            ALTER TABLE payments ALTER COLUMN payment_data TYPE JSONB
                USING pg_temp.payments_text_to_jsonb(payment_data);
        ELSIF col.column_name IN ('created_at', 'updated_at', 'paid_at')
              AND col.data_type = 'timestamp without time zone' THEN
            -- The guide stored naive UTC timestamps.
            EXECUTE format('ALTER TABLE payments ALTER COLUMN %I TYPE TIMESTAMPTZ USING %I AT TIME ZONE ''UTC''',
                           col.column_name, col.column_name);
        ELSIF col.column_name IN ('invoice_id', 'currency', 'payment_method', 'status', 'subscription_tier')
              AND col.data_type = 'character varying' THEN
            EXECUTE format('ALTER TABLE payments ALTER COLUMN %I TYPE TEXT', col.column_name);
        END IF;
    END LOOP;
END $$;

-- Every row gets what the services read as required; old rows keep their own values.
UPDATE payments SET order_id = 'legacy_' || id WHERE order_id IS NULL;
UPDATE payments SET subscription_months = 1 WHERE subscription_months IS NULL;
UPDATE payments SET status = 'pending' WHERE status IS NULL;
UPDATE payments SET currency = 'USD' WHERE currency IS NULL;
UPDATE payments SET amount = 0 WHERE amount IS NULL;
UPDATE payments SET subscription_tier = 'unknown' WHERE subscription_tier IS NULL;
ALTER TABLE payments
    ALTER COLUMN order_id SET NOT NULL,
    ALTER COLUMN subscription_months SET NOT NULL,
    ALTER COLUMN status SET NOT NULL,
    ALTER COLUMN status SET DEFAULT 'creating',
    ALTER COLUMN currency SET NOT NULL,
    ALTER COLUMN amount SET NOT NULL,
    ALTER COLUMN subscription_tier SET NOT NULL;

CREATE UNIQUE INDEX IF NOT EXISTS payments_order_id_key ON payments (order_id);
CREATE UNIQUE INDEX IF NOT EXISTS payments_invoice_id_key ON payments (invoice_id);
CREATE INDEX IF NOT EXISTS payments_user_created_idx ON payments (user_id, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS payments_pending_created_idx ON payments (created_at) WHERE status = 'pending';

-- The contract's rules hold for every new or changed row; old rows are not re-judged
-- (NOT VALID), so a guide's historic statuses survive.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'payments_status_check'
                   AND conrelid = 'payments'::regclass) THEN
        ALTER TABLE payments ADD CONSTRAINT payments_status_check CHECK (
            status IN ('creating', 'pending', 'completed', 'partial', 'canceled', 'expired', 'failed')
        ) NOT VALID;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'payments_pending_has_invoice'
                   AND conrelid = 'payments'::regclass) THEN
        ALTER TABLE payments ADD CONSTRAINT payments_pending_has_invoice CHECK (
            status NOT IN ('pending', 'completed', 'partial') OR invoice_id IS NOT NULL
        ) NOT VALID;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'payments_amount_check'
                   AND conrelid = 'payments'::regclass)
       AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'payments'::regclass
                       AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%amount >=%') THEN
        ALTER TABLE payments ADD CONSTRAINT payments_amount_check CHECK (amount >= 0) NOT VALID;
    END IF;
END $$;
