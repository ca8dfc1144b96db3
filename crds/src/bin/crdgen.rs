//! Prints the ChatDeployment CRD: `cargo run -p chatplane-crds --bin crdgen > crds/chatplane.dev_chatdeployments.yaml`.
fn main() -> Result<(), serde_yaml::Error> {
    print!("{}", chatplane_crds::crd_yaml()?);
    Ok(())
}
