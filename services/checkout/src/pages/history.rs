//! `GET /dashboard/payments`: the payment history table.

use maud::{html, Markup};

use crate::payments::PaymentList;

pub fn render(list: &PaymentList) -> Markup {
    let page = list.page.unwrap_or(1);
    let content = html! {
        h1 { "Payments" }
        @if list.items.is_empty() {
            div.card { p.muted { "No payments yet." } a href="/dashboard" { "Choose a plan" } }
        } @else {
            table {
                thead {
                    tr { th { "Date" } th { "Plan" } th { "Amount" } th { "Status" } th { "" } }
                }
                tbody {
                    @for p in &list.items {
                        tr {
                            td { (p.created_at.format("%Y-%m-%d %H:%M")) }
                            td { (p.tier) " × " (p.months) @if p.months == 1 { " month" } @else { " months" } }
                            td { (p.amount) " " (p.currency) }
                            td { span class={ "status " (p.status) } { (p.status) } }
                            td {
                                @if p.status == "pending" {
                                    @if let Some(url) = &p.payment_url { a href=(url) { "Pay now" } }
                                } @else if let Some(reason) = &p.failure_reason {
                                    span.muted { (super::outcome::message_for(Some(reason)).0) }
                                }
                            }
                        }
                    }
                }
            }
            div.pager {
                span {
                    @if page > 1 { a href={ "/dashboard/payments?page=" (page - 1) } { "← Newer" } }
                }
                span {
                    @if list.next_cursor.is_some() { a href={ "/dashboard/payments?page=" (page + 1) } { "Older →" } }
                }
            }
        }
    };
    super::layout("Payments", content)
}
