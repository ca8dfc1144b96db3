fn main() -> anyhow::Result<()> {
    anyhow::bail!("chatplane-operator: not built yet")
}
