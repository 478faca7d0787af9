//! `GET /api/v1/tiers`: the plan catalogue.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::display_amount;
use crate::plans::Plan;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct TiersResponse {
    pub tiers: Vec<TierView>,
}

/// One plan.
#[derive(Debug, Serialize, ToSchema)]
pub struct TierView {
    #[schema(example = "pro")]
    pub name: String,
    /// Price per month, as a decimal string.
    #[schema(example = "99.00")]
    pub price: String,
    #[schema(example = "USD")]
    pub currency: String,
    /// API requests allowed while on the plan.
    #[schema(example = 100000)]
    pub requests_limit: i32,
    /// Most months one checkout can buy.
    #[schema(example = 12)]
    pub max_months: u32,
    /// False for the free plan.
    pub purchasable: bool,
}

impl From<&Plan> for TierView {
    fn from(plan: &Plan) -> Self {
        Self {
            name: plan.name().to_string(),
            price: display_amount(plan.price()),
            currency: plan.currency().to_string(),
            requests_limit: plan.requests_limit(),
            max_months: plan.max_months(),
            purchasable: plan.is_paid(),
        }
    }
}

/// The plans on offer, cheapest first.
#[utoipa::path(
    get,
    path = "/api/v1/tiers",
    operation_id = "listTiers",
    tag = "plans",
    responses((status = 200, description = "The plans", body = TiersResponse))
)]
#[tracing::instrument(skip_all)]
pub async fn list_tiers(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(TiersResponse {
        tiers: state.plans.iter().map(TierView::from).collect(),
    })
}
