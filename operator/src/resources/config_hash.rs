//! The configuration hash on each pod template: a change of anything a pod reads at start-up
//! but that lives outside its template (a ConfigMap's content) still rolls the pods.

use sha2::{Digest, Sha256};

/// Hex SHA-256 over the parts, each length-prefixed so ("ab","c") and ("a","bc") differ.
pub fn config_hash<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::config_hash;

    #[test]
    fn the_hash_separates_parts_and_is_stable() {
        assert_ne!(config_hash(["ab", "c"]), config_hash(["a", "bc"]));
        assert_eq!(config_hash(["x", "y"]), config_hash(["x", "y"]));
        assert_eq!(config_hash(["x"]).len(), 32);
    }
}
