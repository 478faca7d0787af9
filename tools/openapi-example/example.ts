// How a frontend uses checkout's API through a client generated from its served
// /openapi.json (openapi-typescript types, openapi-fetch calls). scripts/check-openapi.sh
// regenerates generated/checkout.ts from the running service and type-checks this file
// with `tsc --noEmit`: a renamed field, a dropped error code or a changed path fails CI.
import createClient from "openapi-fetch";

import type { components, operations, paths, webhooks } from "./generated/checkout";

type Schemas = components["schemas"];
type Tier = Schemas["TierView"];
type Subscription = Schemas["SubscriptionView"];
type CheckoutFailure = NonNullable<
  Awaited<ReturnType<typeof buy>>["failure"]
>;

const api = createClient<paths>({ baseUrl: "http://localhost:8080" });

/** The signed-in user's token (the frontend gets it from its own sign-in). */
function withToken(token: string) {
  return { Authorization: `Bearer ${token}` };
}

/** The plans a user can buy. */
export async function purchasablePlans(): Promise<Tier[]> {
  const { data, error } = await api.GET("/api/v1/tiers");
  if (error) throw new Error("tiers unavailable");
  return data.tiers.filter((tier) => tier.purchasable);
}

/** Create a checkout and send the payer to the payment page. */
export async function buy(token: string, tier: string, months: number) {
  // One key per purchase: retrying after a timeout returns the same payment.
  const key = crypto.randomUUID();
  const { data, error, response } = await api.POST("/api/v1/checkout", {
    params: { header: { "Idempotency-Key": key } },
    headers: withToken(token),
    body: { tier, months },
  });
  if (data) {
    const replayed = response.headers.get("Idempotent-Replayed") === "true";
    return { paymentUrl: data.payment_url, paymentId: data.payment_id, replayed, failure: undefined };
  }
  return { paymentUrl: undefined, paymentId: undefined, replayed: false, failure: error };
}

/** What to tell the payer, from the error codes the document lists for each status. */
export function explain(failure: CheckoutFailure): string {
  switch (failure.error.code) {
    case "unknown_tier":
    case "tier_not_purchasable":
      return "That plan is not on sale.";
    case "invalid_months":
      return "Choose between 1 and 12 months.";
    case "idempotency_key_in_use":
      return "Still working on it…";
    case "provider_timeout":
    case "provider_unavailable":
    case "provider_rate_limited":
      return "The payment provider is busy; try again in a minute.";
    case "unauthorized":
    case "invalid_token":
    case "token_expired":
      return "Please sign in again.";
    default:
      return failure.error.message;
  }
}

/** The user's payments, page by page. */
export async function allPayments(token: string): Promise<Schemas["PaymentView"][]> {
  const payments: Schemas["PaymentView"][] = [];
  let cursor: string | undefined;
  do {
    const { data, error } = await api.GET("/api/v1/payments", {
      params: { query: { limit: 50, cursor } },
      headers: withToken(token),
    });
    if (error) throw new Error(`${error.error.code}: ${error.error.message}`);
    payments.push(...data.items);
    cursor = data.next_cursor ?? undefined;
  } while (cursor);
  return payments;
}

/** Cancel a payment that is still pending. */
export async function cancel(token: string, paymentId: number): Promise<boolean> {
  const { data, error } = await api.POST("/api/v1/payments/{id}/cancel", {
    params: { path: { id: paymentId } },
    headers: withToken(token),
  });
  if (error?.error.code === "not_cancelable") return false;
  if (error) throw new Error(error.error.message);
  return data.status === "canceled";
}

/** The user's plan. */
export async function subscription(token: string): Promise<Subscription> {
  const { data, error } = await api.GET("/api/v1/subscription", {
    headers: withToken(token),
  });
  if (error) throw new Error(error.error.code);
  return data;
}

// Operation ids name the operations.
type CreateCheckout = operations["createCheckout"];
export type CheckoutRequest = NonNullable<CreateCheckout["requestBody"]>["content"]["application/json"];
export type AdminStats = operations["getAdminStats"]["responses"][200]["content"]["application/json"];

// A merchant's webhook receiver: one type per event, `type` tells which.
export type MerchantEvent = Schemas["MerchantEvent"];
export type PaymentCompleted =
  webhooks["payment.completed"]["post"]["requestBody"]["content"]["application/json"];

export function onEvent(event: MerchantEvent): string {
  switch (event.type) {
    case "payment.completed":
    case "payment.partial":
    case "payment.canceled":
      return `payment ${event.data.payment_id} is ${event.data.status} (${event.data.amount} ${event.data.currency})`;
    case "subscription.renewal_due":
      return `renew at ${event.data.payment_url} before ${event.data.expires_at}`;
    default:
      return `user ${event.data.user_id} is on ${event.data.tier}, renews: ${event.data.renews}`;
  }
}

export function paidTier(event: PaymentCompleted): string {
  return event.data.tier;
}
