//! The kube-runtime Controller: ChatDeployments plus every kind they own (`Kind::ALL`), so a
//! change to (or the deletion of) a child re-triggers its parent.

use std::sync::Arc;

use chatplane_crds::ChatDeployment;
use futures::StreamExt;
use k8s_openapi::api::{
    apps::v1::{Deployment, StatefulSet},
    core::v1::{ConfigMap, Service},
    networking::v1::{Ingress, NetworkPolicy},
};
use kube::{
    Api, Client,
    api::ListParams,
    runtime::{Controller, watcher},
};
use tracing::{error, info, warn};

use crate::{
    Error, Result,
    context::Context,
    reconcile::{error_policy, reconcile},
    resources::{
        Kind,
        labels::{MANAGED_BY, MANAGED_BY_LABEL},
    },
};

/// Fails fast, with the fix, when the CRD is missing; otherwise runs until SIGTERM/SIGINT.
pub async fn run(client: Client, ctx: Arc<Context>) -> Result<()> {
    let chat_deployments = Api::<ChatDeployment>::all(client.clone());
    if let Err(e) = chat_deployments.list(&ListParams::default().limit(1)).await {
        error!(
            "ChatDeployments cannot be listed ({e}). Is the CRD installed? \
             kubectl apply -f crds/chatplane.dev_chatdeployments.yaml"
        );
        return Err(Error::KubeError(e));
    }
    // Only our children: the metadata watches stay small in clusters with many Deployments.
    let owned = watcher::Config::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY}"));
    info!("starting the ChatDeployment controller");
    let controller = Controller::new(chat_deployments, watcher::Config::default().any_semantic());
    Kind::ALL
        .into_iter()
        .filter(|kind| kind.watched())
        .fold(controller, |controller, kind| {
            owns(controller, kind, &client, owned.clone())
        })
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                warn!(error = %e, "controller event");
            }
        })
        .await;
    info!("controller stopped");
    Ok(())
}

/// Watches one owned kind (metadata only) for changes of the children.
fn owns(
    controller: Controller<ChatDeployment>,
    kind: Kind,
    client: &Client,
    config: watcher::Config,
) -> Controller<ChatDeployment> {
    let client = client.clone();
    match kind {
        // Not watched (`Kind::watched`): generated Secrets carry no owner reference.
        Kind::Secret => controller,
        Kind::ConfigMap => controller.owns(Api::<ConfigMap>::all(client), config),
        Kind::Service => controller.owns(Api::<Service>::all(client), config),
        Kind::StatefulSet => controller.owns(Api::<StatefulSet>::all(client), config),
        Kind::Deployment => controller.owns(Api::<Deployment>::all(client), config),
        Kind::NetworkPolicy => controller.owns(Api::<NetworkPolicy>::all(client), config),
        Kind::Ingress => controller.owns(Api::<Ingress>::all(client), config),
    }
}

#[cfg(test)]
mod tests {
    use chatplane_crds::ChatDeployment;

    use super::run;
    use crate::{
        Error,
        fixtures::{Fixture, Scenario, against},
    };

    #[tokio::test]
    async fn without_the_crd_the_operator_stops_at_once_instead_of_watching() {
        let (result, recorded, _) =
            against(&ChatDeployment::test(), Scenario::default(), async |ctx| {
                run(ctx.client.clone(), ctx).await
            })
            .await;
        assert!(matches!(result, Err(Error::KubeError(_))), "{result:?}");
        assert_eq!(recorded.len(), 1, "one list, no watch: {recorded:#?}");
        assert_eq!(recorded[0].method, "GET");
        assert_eq!(
            recorded[0].uri,
            "/apis/chatplane.dev/v1alpha1/chatdeployments?&limit=1"
        );
    }
}
