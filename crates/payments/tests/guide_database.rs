//! The original guide's database: its `users` and `payments` tables exist before our
//! migrations run. The migrations extend both without losing a row, twice in a row is a
//! no-op, and then checkout's and the worker's queries work on the result.

use payments::{creation, history, OrderId, PaymentStatus, Tier, UserId};
use rust_decimal_macros::dec;
use sqlx::PgPool;

const GUIDE_SCHEMA: &str = "
    CREATE TABLE users (id SERIAL PRIMARY KEY, email VARCHAR(255) UNIQUE NOT NULL,
        subscription_tier VARCHAR(50) DEFAULT 'free', subscription_expires TIMESTAMP,
        created_at TIMESTAMP DEFAULT now());
    CREATE TABLE payments (id SERIAL PRIMARY KEY, user_id INTEGER REFERENCES users(id),
        invoice_id VARCHAR(255) UNIQUE, amount FLOAT, currency VARCHAR(10),
        payment_method VARCHAR(50), status VARCHAR(50) DEFAULT 'pending',
        subscription_tier VARCHAR(50), subscription_months INTEGER, payment_data TEXT,
        created_at TIMESTAMP DEFAULT now(), updated_at TIMESTAMP DEFAULT now(),
        paid_at TIMESTAMP);
    INSERT INTO users (email, subscription_tier) VALUES ('a@example.com', 'pro');
    INSERT INTO payments (user_id, invoice_id, amount, currency, payment_method, status,
        subscription_tier, subscription_months, payment_data, paid_at)
    VALUES (1, 'INV-GUIDE001', 99.99, 'USD', 'crypto', 'completed', 'pro', 1,
            '{\"uuid\": \"INV-GUIDE001\"}', '2025-01-02 03:04:05'),
           (1, 'INV-GUIDE002', 0.1, 'USD', 'crypto', 'pending', 'pro', 3, 'not json', NULL),
           (1, NULL, 297, 'USD', NULL, 'failed', 'team', NULL, NULL, NULL);
";

#[sqlx::test(migrations = false)]
async fn the_guides_payments_table_is_extended_without_losing_a_row(pool: PgPool) {
    sqlx::raw_sql(GUIDE_SCHEMA).execute(&pool).await.unwrap();
    platform::database::MIGRATOR.run(&pool).await.unwrap();
    // Safe to run again.
    platform::database::MIGRATOR.run(&pool).await.unwrap();

    let types: Vec<(String, String)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text FROM information_schema.columns \
         WHERE table_name = 'payments' AND column_name IN ('id', 'user_id', 'amount', 'payment_data', 'created_at') \
         ORDER BY column_name",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        types,
        [
            ("amount", "numeric"),
            ("created_at", "timestamp with time zone"),
            ("id", "bigint"),
            ("payment_data", "jsonb"),
            ("user_id", "bigint"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );

    let user = UserId::new(1).unwrap();
    let rows = history::list_for_user(&pool, user, None, 0, 10)
        .await
        .unwrap();
    assert_eq!(rows.len(), 3, "every guide row survives");
    let by_invoice = |id: &str| {
        rows.iter()
            .find(|r| r.invoice_id.as_deref() == Some(id))
            .unwrap()
            .clone()
    };
    let paid = by_invoice("INV-GUIDE001");
    assert_eq!(
        paid.amount,
        dec!(99.99),
        "a float becomes its decimal, exactly"
    );
    assert_eq!(paid.status, PaymentStatus::Completed);
    assert!(paid.order_id.starts_with("legacy_"));
    assert_eq!(
        paid.paid_at.map(|t| t.to_rfc3339()),
        Some("2025-01-02T03:04:05+00:00".to_string())
    );
    let pending = by_invoice("INV-GUIDE002");
    assert_eq!(pending.amount, dec!(0.1));
    assert_eq!(pending.subscription_months, 3);
    let data: serde_json::Value =
        sqlx::query_scalar("SELECT payment_data FROM payments WHERE invoice_id = 'INV-GUIDE002'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(data, serde_json::json!({"legacy_text": "not json"}));

    // Checkout's first step works on the extended table, for a 64-bit user id too.
    let order = OrderId::generate();
    let id = creation::insert_creating(
        &pool,
        &creation::NewPayment {
            user: UserId::new(9_000_000_000).unwrap(),
            order_id: &order,
            amount: dec!(99),
            currency: "USD",
            payment_method: None,
            tier: &Tier::of(plans::PlanCatalogue::defaults().get("pro").unwrap()),
            months: 1,
            payment_data: None,
            renewal_for: None,
        },
    )
    .await
    .unwrap()
    .expect("not a renewal: always inserted");
    assert!(id > 3);
    // And the contract's rules hold for new rows.
    let bad = sqlx::query("UPDATE payments SET status = 'bogus' WHERE id = $1")
        .bind(id)
        .execute(&pool)
        .await;
    assert!(bad.is_err(), "an unknown status is refused");
}
