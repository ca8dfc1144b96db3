//! chatplane-api
