//! Query strings as a map, so each handler names the parameter a bad value came from.

use std::collections::HashMap;

use warp::Filter;

pub type Query = HashMap<String, String>;

pub fn params() -> impl Filter<Extract = (Query,), Error = std::convert::Infallible> + Clone {
    warp::query::<Query>()
        .or(warp::any().map(Query::new))
        .unify()
}
