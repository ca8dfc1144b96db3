use serde_json::Value;

/// RAG sources attached to a message: a JSON array of objects, stored as JSONB.
#[derive(Debug, Clone, PartialEq)]
pub struct Sources(Value);

const MAX_SOURCES: usize = 50;

impl Sources {
    pub fn empty() -> Self {
        Self(Value::Array(Vec::new()))
    }

    pub fn parse(raw: Option<Value>) -> Result<Self, String> {
        let value = match raw {
            None => return Ok(Self::empty()),
            Some(Value::Null) => return Err("must be an array of objects, not null".into()),
            Some(v) => v,
        };
        let Value::Array(items) = &value else {
            return Err("must be an array of objects".into());
        };
        if items.len() > MAX_SOURCES {
            return Err(format!("must hold at most {MAX_SOURCES} entries"));
        }
        if !items.iter().all(Value::is_object) {
            return Err("must be an array of objects".into());
        }
        if contains_nul(&value) {
            return Err("must not contain NUL characters".into());
        }
        Ok(Self(value))
    }

    pub fn into_value(self) -> Value {
        self.0
    }
}

fn contains_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => super::has_nul(s),
        Value::Array(a) => a.iter().any(contains_nul),
        Value::Object(o) => o.iter().any(|(k, v)| super::has_nul(k) || contains_nul(v)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sources_are_arrays_of_objects_without_nul() {
        assert!(Sources::parse(None).is_ok());
        assert!(Sources::parse(Some(json!([{"slug": "a", "score": 0.5}]))).is_ok());
        assert!(Sources::parse(Some(json!({"slug": "a"}))).is_err());
        assert!(Sources::parse(Some(json!(["a"]))).is_err());
        assert!(Sources::parse(Some(json!([{"t": "a\u{0}"}]))).is_err());
    }
}
