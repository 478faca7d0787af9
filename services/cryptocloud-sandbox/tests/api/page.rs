//! The payment page: its HTML holds the amount and the buttons, and each button does what
//! it says.

use cryptocloud::{Invoice, InvoiceStatus};
use cryptocloud_sandbox::Settings;
use rust_decimal_macros::dec;

use crate::helpers::{sandbox, sandbox_with_receiver, spawn_sandbox, verifier, TestSandbox};

async fn page(sb: &TestSandbox, invoice: &Invoice) -> (u16, String) {
    let response = sb.http.get(&invoice.link).send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    (status, response.text().await.unwrap())
}

/// Posts a button's form; returns (status, Location).
async fn press(sb: &TestSandbox, invoice: &Invoice, action: &str) -> (u16, Option<String>) {
    let response = sb
        .http
        .post(format!("{}/pay", invoice.link))
        .form(&[("action", action)])
        .send()
        .await
        .unwrap();
    let location = response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    (response.status().as_u16(), location)
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[tokio::test]
async fn the_page_shows_the_amount_status_and_four_buttons() {
    let sb = sandbox().await;
    let invoice = sb.create(dec!(25.50)).await;
    assert!(invoice.link.starts_with(&sb.base));
    let (status, html) = page(&sb, &invoice).await;
    assert_eq!(status, 200);
    assert!(html.contains("25.50 USD"), "{html}");
    // With the client's network fee of 0.5 USDT.
    assert!(html.contains("26 USDT"), "{html}");
    assert!(html.contains("0.5 USDT, paid by the client"), "{html}");
    assert!(html.contains(&invoice.uuid.prefixed()));
    assert!(html.contains("status-created"));
    assert!(html.contains(invoice.order_id.as_deref().unwrap()));
    let action = format!("action=\"/{}/pay\"", invoice.uuid.code());
    assert_eq!(count(&html, &action), 4, "{html}");
    assert_eq!(count(&html, "method=\"post\""), 4);
    for value in ["full", "part", "over", "expire"] {
        assert!(
            html.contains(&format!("name=\"action\" value=\"{value}\"")),
            "{value}: {html}"
        );
    }
    assert!(html.contains("Pay in full") && html.contains("Pay part"));
    assert!(html.contains("Overpay") && html.contains("Let it expire"));
    assert!(!html.contains("<script"), "works without JavaScript");
}

#[tokio::test]
async fn pay_in_full_redirects_to_the_success_url_and_sends_the_postback() {
    let (sb, mut receiver) = sandbox_with_receiver().await;
    let invoice = sb.create(dec!(25)).await;
    let (status, location) = press(&sb, &invoice, "full").await;
    assert_eq!(status, 303);
    assert_eq!(location.as_deref(), Some(sb.settings.success_url.as_str()));
    assert_eq!(sb.info(&invoice.uuid).await.status, InvoiceStatus::Paid);

    let postback = receiver.next().await.postback();
    assert_eq!(postback.invoice_id, invoice.uuid);
    verifier()
        .verify(postback.token.as_deref(), &postback.invoice_id)
        .unwrap();

    // Now the page has no buttons, only the way back.
    let (_, html) = page(&sb, &invoice).await;
    assert!(html.contains("status-paid"));
    assert_eq!(count(&html, "name=\"action\""), 0, "{html}");
    assert!(html.contains(&format!("href=\"{}\"", sb.settings.success_url)));
    // A second press is refused.
    assert_eq!(press(&sb, &invoice, "full").await.0, 409);
}

#[tokio::test]
async fn pay_part_keeps_the_payer_on_the_page_with_the_invoice_partial() {
    let sb = sandbox().await;
    let invoice = sb.create(dec!(25)).await;
    let (status, location) = press(&sb, &invoice, "part").await;
    assert_eq!(status, 303);
    assert_eq!(location, Some(format!("/{}", invoice.uuid.code())));
    let now = sb.info(&invoice.uuid).await;
    assert_eq!(now.status, InvoiceStatus::Partial);
    assert_eq!(now.received, Some(dec!(12.75)));
    let (_, html) = page(&sb, &invoice).await;
    assert!(
        html.contains("status-partial") && html.contains("Still owed"),
        "{html}"
    );
    // The top-up button pays the rest.
    assert!(html.contains("Pay in full · 12.75 USDT"), "{html}");
    let (status, location) = press(&sb, &invoice, "full").await;
    assert_eq!(
        (status, location.as_deref()),
        (303, Some(sb.settings.success_url.as_str()))
    );
    assert_eq!(sb.info(&invoice.uuid).await.status, InvoiceStatus::Paid);
}

#[tokio::test]
async fn overpay_makes_the_invoice_overpaid() {
    let sb = sandbox().await;
    let invoice = sb.create(dec!(25)).await;
    let (status, location) = press(&sb, &invoice, "over").await;
    assert_eq!(
        (status, location.as_deref()),
        (303, Some(sb.settings.success_url.as_str()))
    );
    let now = sb.info(&invoice.uuid).await;
    assert_eq!(now.status, InvoiceStatus::Overpaid);
    assert_eq!(now.received, Some(dec!(28.05)));
}

#[tokio::test]
async fn let_it_expire_cancels_and_redirects_to_the_fail_url() {
    let mut settings = Settings::for_tests();
    settings.success_url = "https://shop.example/ok".to_owned();
    settings.fail_url = "https://shop.example/failed".to_owned();
    let sb = spawn_sandbox(settings).await;
    let invoice = sb.create(dec!(25)).await;
    let (status, location) = press(&sb, &invoice, "expire").await;
    assert_eq!(
        (status, location.as_deref()),
        (303, Some("https://shop.example/failed"))
    );
    assert_eq!(sb.info(&invoice.uuid).await.status, InvoiceStatus::Canceled);
    let (_, html) = page(&sb, &invoice).await;
    assert!(html.contains("status-canceled"));
    assert!(html.contains("href=\"https://shop.example/failed\""));
    assert_eq!(press(&sb, &invoice, "full").await.0, 409);

    // The configured success URL is where paying leads.
    let other = sb.create(dec!(3)).await;
    assert_eq!(
        press(&sb, &other, "full").await.1.as_deref(),
        Some("https://shop.example/ok")
    );
}

#[tokio::test]
async fn unknown_invoices_and_actions() {
    let sb = sandbox().await;
    let response = sb.http.get(sb.url("/ZZZZ0000")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert!(response.text().await.unwrap().contains("Invoice not found"));
    let invoice = sb.create(dec!(5)).await;
    assert_eq!(press(&sb, &invoice, "steal").await.0, 400);
    assert_eq!(sb.info(&invoice.uuid).await.status, InvoiceStatus::Created);
    // The index lists it.
    let index = sb
        .http
        .get(sb.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(index.contains(&invoice.uuid.prefixed()));
}
