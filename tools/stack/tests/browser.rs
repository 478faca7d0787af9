//! A person in a real (headless) Chromium: sign in with the development link, upgrade to
//! Pro, pay on the sandbox's page, land on the success page, see Pro on the dashboard; and
//! the error page when CryptoCloud (the sandbox) is down. Screenshots of every step are
//! saved under `artifacts/browser/`.

use std::path::PathBuf;
use std::time::Duration;

use stack::webdriver::Browser;
use stack::{Stack, StackConfig};

fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(|p| p.parent())
        .expect("target/debug")
        .to_path_buf()
}

fn artifacts() -> PathBuf {
    let root = std::env::var("ARTIFACTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../artifacts"));
    let dir = root.join("browser");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("artifact dir");
    dir
}

/// The submit button of the dashboard's upgrade form for `tier`.
fn upgrade_button(tier: &str) -> String {
    format!("//form[.//*[@name='tier' and @value='{tier}']]//button[@type='submit' or not(@type)]")
}

#[tokio::test]
async fn a_person_upgrades_to_pro_in_the_browser() {
    let shots = artifacts();
    let mut config = StackConfig::isolated(bin_dir(), shots.join("logs")).unwrap();
    // A notice window longer than the month bought: the worker's sweep (every 2 s here)
    // opens the renewal invoice right after the purchase.
    config.extra_env.insert(
        "subscription-worker".into(),
        [("RENEWAL_NOTICE_DAYS".to_string(), "40".to_string())].into(),
    );
    std::fs::create_dir_all(shots.join("logs")).unwrap();
    let mut stack = Stack::start(config).await.expect("stack starts");
    let browser = Browser::start().await.expect("headless Chromium");
    let checkout = stack.checkout_url();
    let dashboard = format!("{checkout}/dashboard");

    // 1. Sign in with the development link: it sets the session cookie and opens the dashboard.
    browser
        .goto(&format!("{checkout}/dev/login?user_id=515"))
        .await
        .unwrap();
    let page = browser.source().await.unwrap();
    browser
        .screenshot(&shots.join("01-dashboard-free.png"))
        .await
        .unwrap();
    assert!(
        browser
            .wait_for_url(Duration::from_secs(15), |u| u.ends_with("/dashboard"))
            .await
            .is_ok(),
        "sign-in lands on the dashboard"
    );
    assert!(
        page.to_lowercase().contains("free"),
        "a new user is on the free plan:\n{page}"
    );

    // 2. Choose Pro and submit: checkout creates the invoice and sends us to the payment page.
    browser.click(&upgrade_button("pro")).await.unwrap();
    let sandbox = stack.sandbox_url();
    // The click returns before its navigation has always finished.
    let url = browser
        .wait_for_url(Duration::from_secs(15), |u| u.starts_with(&sandbox))
        .await
        .unwrap_or_else(|e| e.to_string());
    browser
        .screenshot(&shots.join("02-payment-page.png"))
        .await
        .unwrap();
    assert!(
        url.starts_with(&stack.sandbox_url()),
        "on the sandbox's payment page, got {url}"
    );
    let page = browser.source().await.unwrap();
    assert!(
        page.contains("99"),
        "the payment page shows the amount:\n{page}"
    );

    // 3. Pay in full: the sandbox redirects to our success page.
    browser
        .click("//button[@value='full' or contains(translate(normalize-space(.), 'PAYFUL', 'payful'), 'pay in full')]")
        .await
        .unwrap();
    // The click returns before its navigation has always finished.
    let url = browser
        .wait_for_url(Duration::from_secs(15), |u| {
            u.contains("/dashboard/payment/success")
        })
        .await
        .unwrap_or_else(|e| e.to_string());
    browser
        .screenshot(&shots.join("03-success.png"))
        .await
        .unwrap();
    assert!(
        url.contains("/dashboard/payment/success"),
        "on the success page, got {url}"
    );

    // 4. The dashboard shows Pro with its expiry once the postback has been applied.
    let page = browser
        .wait_for(Some(&dashboard), Duration::from_secs(30), |s| {
            s.contains("Pro") || s.contains(">pro<")
        })
        .await
        .unwrap();
    browser
        .screenshot(&shots.join("04-dashboard-pro.png"))
        .await
        .unwrap();
    let now = chrono::Utc::now();
    let shows_expiry = (28..=31).any(|d| {
        page.contains(
            &(now + chrono::Duration::days(d))
                .format("%Y-%m-%d")
                .to_string(),
        )
    });
    assert!(
        shows_expiry,
        "the dashboard shows an expiry about a month ahead:\n{page}"
    );

    // 5. The renewal invoice appears on the dashboard; paying it extends by another month.
    browser
        .wait_for(Some(&dashboard), Duration::from_secs(30), |s| {
            s.contains("pay-renewal")
        })
        .await
        .expect("the dashboard offers the renewal invoice");
    assert!(browser.source().await.unwrap().contains("Renews on"));
    browser
        .screenshot(&shots.join("05-renewal-due.png"))
        .await
        .unwrap();
    browser.click("//a[@id='pay-renewal']").await.unwrap();
    browser
        .wait_for_url(Duration::from_secs(15), |u| u.starts_with(&sandbox))
        .await
        .expect("on the renewal's payment page");
    browser
        .click("//button[@value='full' or contains(translate(normalize-space(.), 'PAYFUL', 'payful'), 'pay in full')]")
        .await
        .unwrap();
    browser
        .wait_for_url(Duration::from_secs(15), |u| {
            u.contains("/dashboard/payment/success")
        })
        .await
        .expect("back on the success page");
    let page = browser
        .wait_for(Some(&dashboard), Duration::from_secs(30), |s| {
            !s.contains("pay-renewal")
                && (58..=62).any(|d| {
                    s.contains(
                        &(now + chrono::Duration::days(d))
                            .format("%Y-%m-%d")
                            .to_string(),
                    )
                })
        })
        .await
        .expect("two months ahead once the renewal is paid");
    assert!(page.contains("cancel-subscription"), "{page}");

    // 6. Cancel the renewal: the plan ends on its date; resume: it renews again.
    browser
        .click("//button[@id='cancel-subscription']")
        .await
        .unwrap();
    let page = browser
        .wait_for(None, Duration::from_secs(15), |s| {
            s.contains("resume-subscription")
        })
        .await
        .expect("canceled: the resume button shows");
    assert!(page.contains("Ends on"), "{page}");
    browser
        .screenshot(&shots.join("06-canceled.png"))
        .await
        .unwrap();
    browser
        .click("//button[@id='resume-subscription']")
        .await
        .unwrap();
    let page = browser
        .wait_for(None, Duration::from_secs(15), |s| {
            s.contains("cancel-subscription")
        })
        .await
        .expect("resumed: the cancel button shows");
    assert!(page.contains("Renews on"), "{page}");

    // 7. With CryptoCloud (the sandbox) down, an upgrade lands on the error page.
    stack.sandbox.stop(Duration::from_secs(5)).await.unwrap();
    browser.goto(&dashboard).await.unwrap();
    browser.click(&upgrade_button("pro")).await.unwrap();
    // The click returns before its navigation has always finished.
    let url = browser
        .wait_for_url(Duration::from_secs(15), |u| {
            u.contains("/dashboard/payment/error")
        })
        .await
        .unwrap_or_else(|e| e.to_string());
    browser
        .screenshot(&shots.join("07-error-page.png"))
        .await
        .unwrap();
    assert!(
        url.contains("/dashboard/payment/error"),
        "on the error page, got {url}"
    );

    browser.quit().await.unwrap();
    stack.destroy().await.unwrap();
}
