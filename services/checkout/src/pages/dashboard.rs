//! `GET /dashboard`: the current plan and an upgrade form per paid plan.

use maud::{html, Markup};

use crate::domain::{display_amount, OFFERED_PAYMENT_METHODS};
use crate::plans::PlanCatalogue;
use crate::subscription::SubscriptionView;

pub fn render(subscription: &SubscriptionView, plans: &PlanCatalogue) -> Markup {
    let content = html! {
        h1 { "Your plan" }
        div.card {
            dl.facts {
                dt { "Plan" }
                dd { (title_case(&subscription.tier)) }
                @match (subscription.expires_at, subscription.renews) {
                    (Some(at), true) => {
                        dt { "Renews on" }
                        dd #expiry { (at.format("%Y-%m-%d %H:%M UTC")) }
                    }
                    (Some(at), false) => {
                        dt { "Ends on" }
                        dd #expiry { (at.format("%Y-%m-%d %H:%M UTC")) }
                    }
                    (None, _) => {
                        dt { "Ends on" }
                        dd #expiry { span.muted { "no end date" } }
                    }
                }
                @if let Some(until) = subscription.grace_until.filter(|_| subscription.status == "grace") {
                    dt { "Grace until" }
                    dd { (until.format("%Y-%m-%d %H:%M UTC")) }
                }
                dt { "Requests used" }
                dd { (subscription.requests_used) " of " (subscription.requests_limit) }
                dt { "Remaining" }
                dd { (subscription.requests_remaining) }
            }
        }
        @if let Some(renewal) = &subscription.renewal {
            div.card #renewal {
                h2 { "Renewal due" }
                p { "Your renewal invoice: " (renewal.amount) " " (renewal.currency) "." }
                @if let Some(url) = &renewal.payment_url {
                    a.button #pay-renewal href=(url) { "Pay the renewal" }
                }
            }
        }
        @if subscription.status != "free" {
            @if subscription.renews {
                form method="post" action="/dashboard/subscription/cancel" {
                    button #cancel-subscription type="submit" { "Cancel renewal" }
                    span.muted { " You keep the plan until it ends." }
                }
            } @else {
                form method="post" action="/dashboard/subscription/resume" {
                    button #resume-subscription type="submit" { "Resume renewal" }
                }
            }
        }
        h2 { "Upgrade or extend" }
        div.grid {
            @for plan in plans.paid() {
                form.card method="post" action="/dashboard/subscription/upgrade" {
                    h2 { (title_case(plan.name())) }
                    p {
                        span.price { (display_amount(plan.price())) " " (plan.currency()) }
                        span.muted { " / month" }
                    }
                    p.muted { (plan.requests_limit()) " requests" }
                    input type="hidden" name="tier" value=(plan.name());
                    label for={ "months-" (plan.name()) } { "Months" }
                    select id={ "months-" (plan.name()) } name="months" {
                        @for m in 1..=plan.max_months() {
                            option value=(m) {
                                (m) @if m == 1 { " month" } @else { " months" }
                                " — " (display_amount(plan.amount_for(m))) " " (plan.currency())
                            }
                        }
                    }
                    label for={ "method-" (plan.name()) } { "Pay with" }
                    select id={ "method-" (plan.name()) } name="payment_method" {
                        option value="" { "Any supported coin" }
                        @for code in OFFERED_PAYMENT_METHODS {
                            option value=(code) { (code.replace('_', " ")) }
                        }
                    }
                    button type="submit" { "Continue to payment" }
                }
            }
        }
        p { a href="/dashboard/payments" { "See your payment history" } }
    };
    super::layout("Your plan", content)
}

fn title_case(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
