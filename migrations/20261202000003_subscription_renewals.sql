-- Renewals. A paid plan renews unless its owner cancels it (`users.renews`). A renewal
-- payment names the expiry it renews (`payments.renewal_for`): at most one live renewal per
-- user and expiry, enforced by a unique index rather than a check-then-insert, so several
-- workers and repeated sweeps never open two. A failed or canceled one may be opened again.
-- Reminders sent are rows of `renewal_notices`, one per user, expiry and notice day.
-- Safe to run twice.
ALTER TABLE users ADD COLUMN IF NOT EXISTS renews BOOLEAN NOT NULL DEFAULT true;
ALTER TABLE payments ADD COLUMN IF NOT EXISTS renewal_for TIMESTAMPTZ NULL;
CREATE UNIQUE INDEX IF NOT EXISTS payments_one_live_renewal
    ON payments (user_id, renewal_for)
    WHERE renewal_for IS NOT NULL AND status IN ('creating', 'pending', 'partial', 'completed');
CREATE TABLE IF NOT EXISTS renewal_notices (
    user_id BIGINT NOT NULL REFERENCES users (id),
    expires_at TIMESTAMPTZ NOT NULL,
    days INTEGER NOT NULL CHECK (days > 0),
    payment_id BIGINT NOT NULL REFERENCES payments (id),
    sent_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, expires_at, days)
);
