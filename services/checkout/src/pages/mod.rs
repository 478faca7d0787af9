//! Server-rendered HTML (maud): plain markup, one small stylesheet, no JavaScript.

pub mod dashboard;
pub mod dev_login;
pub mod docs;
pub mod history;
pub mod http;
pub mod outcome;

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use maud::{html, Markup, PreEscaped, DOCTYPE};

const STYLE: &str = r#"
:root { --fg: #1d232b; --muted: #5b6673; --line: #dde2e8; --accent: #2458d3; --bg: #f6f7f9; --ok: #1e7b45; --bad: #b42318; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header { background: #fff; border-bottom: 1px solid var(--line); }
header .bar { max-width: 960px; margin: 0 auto; padding: 0.8rem 1.25rem; display: flex; gap: 1.5rem; align-items: center; }
header .brand { font-weight: 700; color: var(--fg); text-decoration: none; }
header nav a { color: var(--muted); text-decoration: none; margin-right: 1rem; }
header nav a:hover { color: var(--accent); }
main { max-width: 960px; margin: 2rem auto; padding: 0 1.25rem; }
h1 { font-size: 1.6rem; margin: 0 0 1rem; }
h2 { font-size: 1.2rem; margin: 0 0 0.75rem; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 1.25rem 1.5rem; margin-bottom: 1.25rem; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(260px, 1fr)); gap: 1.25rem; }
.muted { color: var(--muted); }
.price { font-size: 1.5rem; font-weight: 700; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.35rem 1.25rem; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; font-weight: 600; }
label { display: block; font-size: 0.9rem; color: var(--muted); margin: 0.75rem 0 0.25rem; }
input, select { width: 100%; padding: 0.5rem 0.6rem; border: 1px solid var(--line); border-radius: 6px; font: inherit; background: #fff; }
button, .button { display: inline-block; margin-top: 1rem; padding: 0.6rem 1.1rem; border: 0; border-radius: 6px; background: var(--accent); color: #fff; font: inherit; font-weight: 600; text-decoration: none; cursor: pointer; }
button:hover, .button:hover { filter: brightness(1.1); }
table { width: 100%; border-collapse: collapse; background: #fff; }
th, td { text-align: left; padding: 0.6rem 0.75rem; border-bottom: 1px solid var(--line); }
th { font-size: 0.85rem; color: var(--muted); font-weight: 600; }
.status { font-size: 0.8rem; font-weight: 600; padding: 0.15rem 0.5rem; border-radius: 999px; background: #eef1f5; }
.status.completed { background: #e3f4ea; color: var(--ok); }
.status.failed, .status.expired, .status.canceled { background: #fdecea; color: var(--bad); }
.status.pending, .status.partial, .status.creating { background: #fff4e0; color: #8a5300; }
.notice { border-left: 4px solid var(--accent); }
.notice.bad { border-left-color: var(--bad); }
.notice.good { border-left-color: var(--ok); }
.pager { display: flex; justify-content: space-between; margin-top: 1rem; }
code { background: #eef1f5; padding: 0.1rem 0.35rem; border-radius: 4px; font-size: 0.9em; }
"#;

/// The frame every page shares.
pub fn layout(title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Subscription" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    div.bar {
                        a.brand href="/dashboard" { "Subscription" }
                        nav {
                            a href="/dashboard" { "Plan" }
                            a href="/dashboard/payments" { "Payments" }
                        }
                    }
                }
                main { (content) }
            }
        }
    }
}

/// An HTML response with `status`.
pub fn respond(status: StatusCode, markup: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(markup.into_string())
}

/// The friendly page for a visitor without a valid session (401).
pub fn sign_in_required(dev_login_enabled: bool) -> HttpResponse {
    let content = html! {
        div.card.notice {
            h1 { "Please sign in" }
            p { "Your session is missing or has expired. Sign in to the application again, then come back to this page." }
            @if dev_login_enabled {
                p.muted {
                    "Development login is enabled: open "
                    code { "/dev/login?user_id=1" }
                    " to get a session."
                }
            }
        }
    };
    respond(StatusCode::UNAUTHORIZED, layout("Sign in", content))
}
