-- A claim of an idempotency key carries a token: only its holder may answer or release it,
-- so a holder whose lease lapsed while it was still working cannot overwrite the row of the
-- request that took the key over (compare-and-set on the token).
ALTER TABLE idempotency_keys ADD COLUMN IF NOT EXISTS claim_token UUID NULL;
