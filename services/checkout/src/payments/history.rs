//! A page of a user's history: by cursor or by page number, newest first.

use ::payments::history;

use super::{
    ListQuery, PaymentList, PaymentView, PaymentsError, DEFAULT_LIMIT, MAX_LIMIT, MAX_PAGE,
};
use crate::domain::{Cursor, UserId};
use crate::state::AppState;

/// One page of a user's history (shared with the dashboard's history page).
pub async fn page(
    state: &AppState,
    user: UserId,
    query: &ListQuery,
) -> Result<PaymentList, PaymentsError> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(PaymentsError::InvalidQuery("limit must be from 1 to 100"));
    }
    let (cursor, offset, page) = match (&query.cursor, query.page) {
        (Some(_), Some(_)) => {
            return Err(PaymentsError::InvalidQuery(
                "use either cursor or page, not both",
            ))
        }
        (Some(text), None) => {
            let cursor = Cursor::decode(text)
                .ok_or(PaymentsError::InvalidQuery("cursor is not one we issued"))?;
            (Some(cursor), 0, None)
        }
        (None, Some(page)) => {
            if !(1..=MAX_PAGE).contains(&page) {
                return Err(PaymentsError::InvalidQuery("page must be from 1 to 1000"));
            }
            (None, i64::from(page - 1) * i64::from(limit), Some(page))
        }
        (None, None) => (None, 0, None),
    };
    // One extra row tells whether there is a next page.
    let mut rows =
        history::list_for_user(&state.pool, user, cursor, offset, i64::from(limit) + 1).await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last().map(|r| Cursor::of(r).encode())
    } else {
        None
    };
    Ok(PaymentList {
        items: rows.iter().map(PaymentView::from).collect(),
        next_cursor,
        page,
        limit,
    })
}
