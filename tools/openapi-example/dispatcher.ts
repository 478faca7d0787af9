// How an operator's script uses the event dispatcher's admin API through a client
// generated from its served /openapi.json. scripts/check-openapi.sh regenerates
// generated/event-dispatcher.ts from the running service and type-checks this file.
import createClient from "openapi-fetch";

import type { components, paths } from "./generated/event-dispatcher";

type Schemas = components["schemas"];
type Endpoint = Schemas["Endpoint"];
type Delivery = Schemas["DeliveryLog"];

const admin = createClient<paths>({ baseUrl: "http://localhost:8083" });
const auth = (token: string) => ({ Authorization: `Bearer ${token}` });

/** Adds the merchant's endpoint for payments; the secret is shown only in this answer. */
export async function addEndpoint(token: string, url: string): Promise<{ id: string; secret: string }> {
  const { data, error } = await admin.POST("/api/v1/admin/webhook-endpoints", {
    headers: auth(token),
    body: { url, events: ["payment.completed", "subscription.upgraded"] },
  });
  if (error) {
    // 422 names the field: "url: ...", "events: ...".
    throw new Error(`${error.error.code}: ${error.error.message}`);
  }
  return { id: data.id, secret: data.secret };
}

/** The endpoints that are failing, and since when. */
export async function failing(token: string): Promise<Endpoint[]> {
  const { data, error } = await admin.GET("/api/v1/admin/webhook-endpoints", { headers: auth(token) });
  if (error) throw new Error(error.error.code);
  return data.data.filter((e) => e.failing_since != null);
}

/** Failed deliveries of the last day, then one resent at once and the rest recovered. */
export async function retryFailed(token: string, id: string): Promise<number> {
  const since = new Date(Date.now() - 86_400_000).toISOString();
  const { data, error } = await admin.GET("/api/v1/admin/webhook-endpoints/{id}/deliveries", {
    headers: auth(token),
    params: { path: { id }, query: { status: "failed", since, limit: 100 } },
  });
  if (error) throw new Error(error.error.code);
  const failed: Delivery[] = data.data;
  const first = failed[0];
  if (first) {
    const resent = await admin.POST("/api/v1/admin/deliveries/{delivery_id}/resend", {
      headers: auth(token),
      params: { path: { delivery_id: first.delivery_id } },
    });
    const status: number | null | undefined = resent.data?.attempt.response_status;
    console.log(`resent ${first.event_id}: ${resent.data?.status} (${status ?? "no answer"})`);
  }
  const recovered = await admin.POST("/api/v1/admin/webhook-endpoints/{id}/recover", {
    headers: auth(token),
    params: { path: { id } },
    body: { since },
  });
  return recovered.data?.recovered ?? 0;
}
