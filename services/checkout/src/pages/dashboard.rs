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
                dt { "Renews / ends" }
                dd {
                    @match subscription.expires_at {
                        Some(at) => { (at.format("%Y-%m-%d %H:%M UTC")) }
                        None => { span.muted { "no end date" } }
                    }
                }
                dt { "Requests used" }
                dd { (subscription.requests_used) " of " (subscription.requests_limit) }
                dt { "Remaining" }
                dd { (subscription.requests_remaining) }
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
