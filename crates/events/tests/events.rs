use chrono::{TimeZone, Utc};
use events::{
    decode, encode, from_timestamp, to_timestamp, Event, PostbackReceived, SourceFormat,
    SubscriptionUpgraded, Timestamp,
};
use proptest::prelude::*;

fn postback() -> PostbackReceived {
    PostbackReceived {
        message_id: "pb-7Q2K9XAB-1".to_owned(),
        invoice_id: "7Q2K9XAB".to_owned(),
        order_id: "order-42".to_owned(),
        postback_status: "success".to_owned(),
        invoice_status: "paid".to_owned(),
        amount_crypto: "214356.22712".to_owned(),
        crypto_currency: "USDT_TRC20".to_owned(),
        received_at: Some(to_timestamp(
            Utc.with_ymd_and_hms(2025, 3, 1, 10, 22, 5).unwrap()
                + chrono::Duration::microseconds(1),
        )),
        source_format: SourceFormat::Form as i32,
    }
}

#[test]
fn postback_received_round_trips() {
    let msg = postback();
    let bytes = encode(&msg);
    let back: PostbackReceived = decode(&bytes).unwrap();
    assert_eq!(back, msg);
    assert_eq!(back.source_format(), SourceFormat::Form);
    assert_eq!(back.amount_crypto, "214356.22712");
}

#[test]
fn subscription_upgraded_round_trips() {
    let expiry = Utc.with_ymd_and_hms(2025, 6, 1, 0, 0, 0).unwrap();
    let msg = SubscriptionUpgraded {
        event_id: "0190f1c2-0000-7000-8000-000000000001".to_owned(),
        user_id: 42,
        payment_id: -7,
        invoice_id: "INV-7Q2K9XAB".to_owned(),
        tier: "pro".to_owned(),
        months: 3,
        new_expiry: Some(to_timestamp(expiry)),
        occurred_at: Some(Timestamp {
            seconds: 1_700_000_000,
            nanos: 5,
        }),
        renews: true,
        previous_tier: "basic".to_owned(),
        previous_expires_at: None,
    };
    let back: SubscriptionUpgraded = decode(&encode(&msg)).unwrap();
    assert_eq!(back, msg);
    assert_eq!(
        from_timestamp(back.new_expiry.as_ref().unwrap()),
        Some(expiry)
    );
}

#[test]
fn default_message_encodes_to_nothing_and_back() {
    let bytes = encode(&PostbackReceived::default());
    assert!(bytes.is_empty());
    let back: PostbackReceived = decode(&bytes).unwrap();
    assert_eq!(back.source_format(), SourceFormat::Unspecified);
}

#[test]
fn event_names_and_routes() {
    assert_eq!(postback().event_type(), "PostbackReceived");
    assert_eq!(SubscriptionUpgraded::ROUTING_KEY, "subscription.upgraded");
    assert_eq!(PostbackReceived::ROUTING_KEY, events::ROUTING_KEY_POSTBACK);
    assert_eq!(
        SubscriptionUpgraded::default().routing_key(),
        "subscription.upgraded"
    );
    assert_eq!(events::EXCHANGE, "payments");
    assert_eq!(events::ROUTING_KEY_POSTBACK, "postback.cryptocloud");
    assert_eq!(events::CONTENT_TYPE, "application/x-protobuf");
    assert_eq!(SourceFormat::Json.label(), "json");
}

#[test]
fn garbage_is_an_error() {
    // Field 1, wire type 2 (length-delimited), length 100, but only 2 bytes follow.
    let err = decode::<PostbackReceived>(&[0x0a, 100, b'a', b'b']).unwrap_err();
    assert_eq!(err.event_type, "PostbackReceived");
    assert!(err.to_string().contains("PostbackReceived"), "{err}");
    // Invalid UTF-8 in a string field.
    assert!(decode::<PostbackReceived>(&[0x0a, 2, 0xff, 0xfe]).is_err());
    // Wire type 7 does not exist.
    assert!(decode::<SubscriptionUpgraded>(&[0x0f]).is_err());
}

#[test]
fn timestamp_conversions() {
    let t = Utc.with_ymd_and_hms(2024, 2, 29, 23, 59, 59).unwrap()
        + chrono::Duration::nanoseconds(123_456_789);
    let ts = to_timestamp(t);
    assert_eq!(ts.seconds, t.timestamp());
    assert_eq!(ts.nanos, 123_456_789);
    assert_eq!(from_timestamp(&ts), Some(t));
    // Negative nanos normalise instead of failing.
    let odd = Timestamp {
        seconds: 10,
        nanos: -1,
    };
    assert_eq!(
        from_timestamp(&odd),
        Utc.timestamp_opt(9, 999_999_999).single()
    );
    assert_eq!(
        from_timestamp(&Timestamp {
            seconds: i64::MAX,
            nanos: 0
        }),
        None
    );
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode::<PostbackReceived>(&bytes);
        let _ = decode::<SubscriptionUpgraded>(&bytes);
    }

    #[test]
    fn arbitrary_postbacks_round_trip(
        message_id in "\\PC{0,40}",
        amount in "[0-9]{1,12}\\.[0-9]{0,8}",
        format in 0i32..3,
        seconds in 0i64..4_000_000_000,
    ) {
        let msg = PostbackReceived {
            message_id,
            amount_crypto: amount,
            source_format: format,
            received_at: Some(Timestamp { seconds, nanos: 0 }),
            ..postback()
        };
        let back: PostbackReceived = decode(&encode(&msg)).unwrap();
        prop_assert_eq!(back, msg);
    }
}
