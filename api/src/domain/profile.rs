/// What the identity provider says about a user besides the id: the fields Better Auth puts in
/// its JWTs and its `get-session` user alike, mirrored into the `users` row.
///
/// PostgreSQL text cannot hold NUL, so a claim with one would fail every request of its user
/// (issue 13): a name keeps its text without the NULs; an email or image URL with a NUL is no
/// valid email or URL and is dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, serde::Deserialize)]
pub struct Profile {
    #[serde(default, deserialize_with = "without_nul_or_none")]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "nul_stripped")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "without_nul_or_none")]
    pub image: Option<String>,
}

fn nul_stripped<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let value: Option<String> = serde::Deserialize::deserialize(d)?;
    Ok(value.map(|v| v.replace('\0', "")))
}

fn without_nul_or_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let value: Option<String> = serde::Deserialize::deserialize(d)?;
    Ok(value.filter(|v| !v.contains('\0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_never_reaches_the_users_row() {
        let p: Profile = serde_json::from_str(
            r#"{"email":"a\u0000@x.test","name":"Ad\u0000a","image":"https://i\u0000"}"#,
        )
        .expect("profile");
        assert_eq!(p.email, None);
        assert_eq!(p.name.as_deref(), Some("Ada"));
        assert_eq!(p.image, None);
        let p: Profile = serde_json::from_str(r#"{"email":"a@x.test","name":null}"#).expect("ok");
        assert_eq!(p.email.as_deref(), Some("a@x.test"));
        assert_eq!(p.name, None);
    }
}
