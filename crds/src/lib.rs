//! The `ChatDeployment` custom resource (group `chatplane.dev`, version `v1alpha1`).
