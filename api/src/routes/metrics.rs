use warp::Filter;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

use super::table::{Operation, at};
use crate::context::ApiContext;

pub fn routes(
    ctx: ApiContext,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    at(Operation::Metrics).map(move || {
        let mut res = match ctx.metrics.encode() {
            Ok(text) => Response::new(text.into()),
            Err(_) => {
                let mut r = Response::new("metrics encoding failed".into());
                *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                r
            }
        };
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        );
        res
    })
}
