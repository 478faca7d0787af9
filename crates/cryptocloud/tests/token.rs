//! Postback token verification.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::Utc;
use cryptocloud::token::{unsigned_token, Algorithm};
use cryptocloud::{
    sign_postback_token, sign_with, IdClaim, IdKind, InvoiceId, TokenError, TokenVerifier,
};
use secrecy::SecretString;
use serde_json::json;

const SECRET: &str = "project-secret-key";

fn secret() -> SecretString {
    SecretString::from(SECRET)
}

fn verifier() -> TokenVerifier {
    TokenVerifier::new(secret(), Duration::from_secs(60))
}

fn invoice() -> InvoiceId {
    InvoiceId::parse("7Q2K9XAB").unwrap()
}

fn in_five_minutes() -> chrono::DateTime<Utc> {
    Utc::now() + chrono::Duration::seconds(300)
}

#[test]
fn valid_token() {
    let exp = in_five_minutes();
    let token = sign_postback_token(&secret(), IdClaim::from(&invoice()), exp);
    let header = token.split('.').next().unwrap();
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    assert_eq!(header["alg"], "HS256");
    assert_eq!(header["typ"], "JWT");
    let verified = verifier().verify(Some(&token), &invoice()).unwrap();
    assert_eq!(verified.id.as_deref(), Some("7Q2K9XAB"));
    assert_eq!(verified.exp.timestamp(), exp.timestamp());
}

#[test]
fn missing_token() {
    assert_eq!(
        verifier().verify(None, &invoice()),
        Err(TokenError::Missing)
    );
    assert_eq!(
        verifier().verify(Some(""), &invoice()),
        Err(TokenError::Missing)
    );
    assert_eq!(
        verifier().verify(Some("  "), &invoice()),
        Err(TokenError::Missing)
    );
}

#[test]
fn wrong_key() {
    let token = sign_postback_token(
        &SecretString::from("another-secret"),
        IdClaim::from(&invoice()),
        in_five_minutes(),
    );
    assert_eq!(
        verifier().verify(Some(&token), &invoice()),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn tampered_payload() {
    let token = sign_postback_token(&secret(), IdClaim::from(&invoice()), in_five_minutes());
    let parts: Vec<&str> = token.split('.').collect();
    let forged = URL_SAFE_NO_PAD
        .encode(json!({"id": "OTHER123", "exp": in_five_minutes().timestamp()}).to_string());
    let token = format!("{}.{}.{}", parts[0], forged, parts[2]);
    assert_eq!(
        verifier().verify(Some(&token), &InvoiceId::parse("OTHER123").unwrap()),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn alg_none_is_refused() {
    let token = unsigned_token(&json!({"id": "7Q2K9XAB", "exp": in_five_minutes().timestamp()}));
    assert!(token.ends_with('.'));
    assert_eq!(
        verifier().verify(Some(&token), &invoice()),
        Err(TokenError::Algorithm)
    );
    // Also with a signature part appended, and with odd casing.
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"None","typ":"JWT"}"#);
    let payload = token.split('.').nth(1).unwrap();
    let token = format!("{header}.{payload}.AAAA");
    assert_eq!(
        verifier().verify(Some(&token), &invoice()),
        Err(TokenError::Algorithm)
    );
}

#[test]
fn other_hmac_algorithms_are_refused() {
    let claims = json!({"id": "7Q2K9XAB", "exp": in_five_minutes().timestamp()});
    for alg in [Algorithm::HS384, Algorithm::HS512] {
        let token = sign_with(alg, SECRET.as_bytes(), &claims).unwrap();
        assert_eq!(
            verifier().verify(Some(&token), &invoice()),
            Err(TokenError::Algorithm),
            "{alg:?}"
        );
    }
    // An RS256 header over an HMAC signature (key-confusion attempt).
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let rest = sign_with(Algorithm::HS256, SECRET.as_bytes(), &claims).unwrap();
    let rest = rest.split_once('.').unwrap().1;
    assert_eq!(
        verifier().verify(Some(&format!("{header}.{rest}")), &invoice()),
        Err(TokenError::Algorithm)
    );
}

#[test]
fn expired_beyond_leeway() {
    let exp = Utc::now() - chrono::Duration::seconds(120);
    let token = sign_postback_token(&secret(), IdClaim::from(&invoice()), exp);
    assert_eq!(
        verifier().verify(Some(&token), &invoice()),
        Err(TokenError::Expired)
    );
}

#[test]
fn expired_within_leeway() {
    let exp = Utc::now() - chrono::Duration::seconds(20);
    let token = sign_postback_token(&secret(), IdClaim::from(&invoice()), exp);
    let verified = verifier().verify(Some(&token), &invoice()).unwrap();
    assert_eq!(verified.exp.timestamp(), exp.timestamp());
    // The same token with no leeway is expired.
    let strict = TokenVerifier::new(secret(), Duration::ZERO);
    assert_eq!(
        strict.verify(Some(&token), &invoice()),
        Err(TokenError::Expired)
    );
}

#[test]
fn exp_is_required() {
    let token = sign_with(
        Algorithm::HS256,
        SECRET.as_bytes(),
        &json!({"id": "7Q2K9XAB"}),
    )
    .unwrap();
    assert_eq!(
        verifier().verify(Some(&token), &invoice()),
        Err(TokenError::Malformed)
    );
}

#[test]
fn id_of_another_invoice() {
    let token = sign_postback_token(
        &secret(),
        IdClaim::Str("OTHER123".to_owned()),
        in_five_minutes(),
    );
    assert_eq!(
        verifier().verify(Some(&token), &invoice()),
        Err(TokenError::InvoiceMismatch)
    );
}

#[test]
fn a_numeric_id_is_accepted_whatever_the_invoice_code() {
    // CryptoCloud may sign its own numeric id, which the invoice code does not carry;
    // the worker confirms the postback with the API before anything is applied.
    for n in [13, 12_345_678] {
        let token = sign_postback_token(&secret(), IdClaim::Int(n), in_five_minutes());
        let verified = verifier().verify(Some(&token), &invoice()).unwrap();
        assert_eq!(verified.id_kind, IdKind::Numeric);
        assert_eq!(verified.id, Some(n.to_string()));
    }
}

#[test]
fn id_forms_are_normalised() {
    for id in ["7Q2K9XAB", "INV-7Q2K9XAB", "inv-7q2k9xab", "7q2k9xab"] {
        let token = sign_postback_token(&secret(), IdClaim::Str(id.to_owned()), in_five_minutes());
        let verified = verifier().verify(Some(&token), &invoice()).unwrap();
        assert_eq!(verified.id.as_deref(), Some(id));
    }
}

#[test]
fn integer_id_against_numeric_invoice_code() {
    let numeric = InvoiceId::parse("12345678").unwrap();
    let token = sign_postback_token(&secret(), IdClaim::Int(12_345_678), in_five_minutes());
    let verified = verifier().verify(Some(&token), &numeric).unwrap();
    assert_eq!(verified.id.as_deref(), Some("12345678"));
    // The same number as a string.
    let token = sign_postback_token(
        &secret(),
        IdClaim::Str("12345678".to_owned()),
        in_five_minutes(),
    );
    assert!(verifier().verify(Some(&token), &numeric).is_ok());
}

#[test]
fn absent_id_is_accepted() {
    let token = sign_postback_token(&secret(), IdClaim::None, in_five_minutes());
    let verified = verifier().verify(Some(&token), &invoice()).unwrap();
    assert_eq!(verified.id, None);
    assert_eq!(verified.id_kind, IdKind::Absent);
}

#[test]
fn odd_id_types_are_malformed() {
    let claims = json!({"id": {"x": 1}, "exp": in_five_minutes().timestamp()});
    let token = sign_with(Algorithm::HS256, SECRET.as_bytes(), &claims).unwrap();
    assert_eq!(
        verifier().verify(Some(&token), &invoice()),
        Err(TokenError::Malformed)
    );
}

#[test]
fn garbage_is_malformed() {
    for token in [
        "abc",
        "a.b",
        "a.b.c",
        "a.b.c.d",
        "....",
        "eyJ.eyJ.sig",
        "%%%.%%%.%%%",
    ] {
        assert_eq!(
            verifier().verify(Some(token), &invoice()),
            Err(TokenError::Malformed),
            "{token}"
        );
    }
}

#[test]
fn python_bytes_literal_and_plain_quote_wrapping_are_tolerated() {
    let token = sign_postback_token(&secret(), IdClaim::from(&invoice()), in_five_minutes());
    for wrapped in [
        format!("b'{token}'"),
        format!("b\"{token}\""),
        format!("'{token}'"),
        format!("\"{token}\""),
        format!(" \"{token}\" "),
    ] {
        let verified = verifier().verify(Some(&wrapped), &invoice());
        assert_eq!(
            verified.map(|v| v.id_kind),
            Ok(IdKind::Invoice),
            "{wrapped}"
        );
    }
    // Unbalanced quotes are not a wrapping: the token is malformed.
    assert_eq!(
        verifier().verify(Some(&format!("'{token}")), &invoice()),
        Err(TokenError::Malformed)
    );
}

#[test]
fn debug_does_not_leak_the_secret() {
    assert!(!format!("{:?}", verifier()).contains(SECRET));
}
