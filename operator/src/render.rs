//! `chatplane-operator render -f <file>`: the manifests the operator would apply, without a
//! cluster. Generated secrets appear as placeholders; a resource without a uid or namespace
//! (as written by a user) gets stand-ins, as `kubectl apply` would fill them in.

use chatplane_crds::ChatDeployment;

use crate::{
    Error, Result,
    resources::{GeneratedValues, Inputs, desired},
};

/// Stands in for the uid the API server assigns on creation.
pub const PLACEHOLDER_UID: &str = "00000000-0000-0000-0000-000000000000";

pub fn parse(yaml: &str) -> Result<ChatDeployment> {
    let mut cd: ChatDeployment = serde_yaml::from_str(yaml).map_err(Error::ParseError)?;
    cd.metadata
        .namespace
        .get_or_insert_with(|| "default".to_owned());
    cd.metadata
        .uid
        .get_or_insert_with(|| PLACEHOLDER_UID.to_owned());
    Ok(cd)
}

pub fn parse_file(path: &str) -> Result<ChatDeployment> {
    let yaml = std::fs::read_to_string(path).map_err(|source| Error::ReadFile {
        path: path.to_owned(),
        source,
    })?;
    parse(&yaml)
}

pub fn render_file(path: &str, inputs: &Inputs) -> Result<String> {
    let cd = parse_file(path)?;
    desired(&cd, inputs, &GeneratedValues::placeholders())?.to_yaml()
}
