/// What the identity provider says about a user besides the id: the fields Better Auth puts in
/// its JWTs and its `get-session` user alike, mirrored into the `users` row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, serde::Deserialize)]
pub struct Profile {
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub image: Option<String>,
}
